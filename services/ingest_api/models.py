"""SQLModel models: the marts the API reads, and the public shapes it returns."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Self

from sqlmodel import Field, SQLModel

COHORT = (
    "pupils of compulsory school age (5 to 15 on 31 August before the academic year), "
    "leavers included"
)
DISADVANTAGED = (
    "eligible for free school meals in the last six years (FSM6), looked after (CLA) or "
    "previously looked after (PLAC); service children are not counted as disadvantaged"
)


class AttendanceGap(SQLModel, table=True):
    """A row of ``marts.mart_attendance_gap``: one unit (academy, hub, trust) and year."""

    __tablename__ = "mart_attendance_gap"
    __table_args__ = {"schema": "marts"}

    level: str = Field(primary_key=True)
    unit_id: str = Field(primary_key=True)
    academic_year: str = Field(primary_key=True)
    unit_name: str
    academic_year_start: int
    disadvantaged_suppressed: bool
    other_suppressed: bool
    disadvantaged_pupils: int | None
    other_pupils: int | None
    disadvantaged_possible_sessions: int | None
    disadvantaged_attended_sessions: int | None
    other_possible_sessions: int | None
    other_attended_sessions: int | None
    disadvantaged_attendance_rate: Decimal | None
    other_attendance_rate: Decimal | None
    attendance_gap_pp: Decimal | None


class GroupAttendancePublic(SQLModel):
    """Attendance of one pupil group."""

    suppressed: bool = Field(
        description="True for a group of fewer than 5 pupils: its figures are null, so no "
        "pupil can be identified"
    )
    pupils: int | None
    possible_sessions: int | None
    attended_sessions: int | None
    attendance_rate: float | None = Field(description="Percentage of possible sessions attended")


class AttendanceGapPublic(SQLModel):
    """Attendance of disadvantaged pupils and of others, and the gap, for one unit and year."""

    level: str = Field(description="academy, hub or trust")
    id: str
    name: str
    academic_year: str = Field(schema_extra={"examples": ["2025-26"]})
    disadvantaged: GroupAttendancePublic
    other: GroupAttendancePublic
    gap_percentage_points: float | None = Field(
        description="Disadvantaged attendance rate minus others' (negative: disadvantaged lower)"
    )
    cohort: str = COHORT
    disadvantaged_definition: str = DISADVANTAGED

    @classmethod
    def from_row(cls, row: AttendanceGap) -> AttendanceGapPublic:
        """Shape a mart row for the API."""

        def rate(value: Decimal | None) -> float | None:
            return None if value is None else float(value)

        return cls(
            level=row.level,
            id=row.unit_id,
            name=row.unit_name,
            academic_year=row.academic_year,
            disadvantaged=GroupAttendancePublic(
                suppressed=row.disadvantaged_suppressed,
                pupils=row.disadvantaged_pupils,
                possible_sessions=row.disadvantaged_possible_sessions,
                attended_sessions=row.disadvantaged_attended_sessions,
                attendance_rate=rate(row.disadvantaged_attendance_rate),
            ),
            other=GroupAttendancePublic(
                suppressed=row.other_suppressed,
                pupils=row.other_pupils,
                possible_sessions=row.other_possible_sessions,
                attended_sessions=row.other_attended_sessions,
                attendance_rate=rate(row.other_attendance_rate),
            ),
            gap_percentage_points=rate(row.attendance_gap_pp),
        )


class AcademyPublic(SQLModel):
    """An academy of the trust."""

    id: str
    name: str
    urn: str
    phase: str
    hub_id: str


class AcademiesPublic(SQLModel):
    """The trust's academies."""

    data: list[AcademyPublic]
    count: int


class FeedFreshness(SQLModel):
    """How fresh one feed (an academy's stream) is: its last publish and its latest run."""

    academy_id: str
    stream: str
    last_published_at: datetime | None
    last_rows_published: int | None
    watermark: datetime | None
    latest_status: str
    latest_started_at: datetime
    latest_message: str | None
    healthy: bool


class FreshnessPublic(SQLModel):
    """The feeds of an academy (or of the trust), by academy and stream."""

    data: list[FeedFreshness]
    count: int


class CheckFailure(SQLModel):
    """A check rows of a batch failed: why, how many, and example MIS pupil ids."""

    check: str = Field(schema_extra={"examples": ["pupil_known"]})
    severity: str = Field(description="error: the batch was blocked; warn: the rest published")
    reason: str
    rows: int | None = Field(
        description="Rows quarantined (a batch-level check: what it counted, e.g. short days; "
        "none for the batch's size)"
    )
    example_mis_pupil_ids: list[str] = Field(
        description="Up to five MIS pupil ids the academy can look up (never names or UPNs)"
    )


class WaitingRelease(SQLModel):
    """Quarantined rows of a check still waiting to be released (``trustdata release``)."""

    check: str
    rows: int


class FeedQuality(SQLModel):
    """The data quality of one feed (an academy's stream): its latest batch's audit."""

    academy_id: str
    stream: str
    batch_id: str
    outcome: str = Field(
        description="ok; warn (rows quarantined, the rest published); blocked; or the batch's "
        "status while it runs (landing, landed) or when it failed"
    )
    status: str
    source: str | None
    started_at: datetime
    finished_at: datetime | None
    rows_landed: int
    rows_quarantined: int
    message: str | None
    failed_checks: list[CheckFailure]
    waiting_release: list[WaitingRelease]


class QualityPublic(SQLModel):
    """The feeds of an academy (or of the trust), by academy and stream."""

    data: list[FeedQuality]
    count: int


class PupilAttendance(SQLModel, table=True):
    """A row of ``marts.mart_pupil_attendance``: one enrolment's sessions in a year."""

    __tablename__ = "mart_pupil_attendance"
    __table_args__ = {"schema": "marts"}

    academy_id: str = Field(primary_key=True)
    academic_year: str = Field(primary_key=True)
    record_key: str = Field(primary_key=True)
    upn: str
    enrolment_start: date | None
    registration: str | None
    academic_year_start: int
    possible_sessions: int
    attended_sessions: int
    authorised_absence_sessions: int
    unauthorised_absence_sessions: int
    attendance_rate: Decimal | None
    persistent_absence: bool
    severe_absence: bool
    disadvantaged: bool | None
    fsm6: bool | None
    cla: bool | None
    plac: bool | None
    service_child: bool | None
    sen_group: str | None
    eal: bool | None
    gender: str | None
    year_group: str | None
    compulsory_school_age: bool | None


class PupilAttendancePublic(SQLModel):
    """One pupil's enrolment at an academy in a year: sessions and characteristics."""

    upn: str
    enrolment_start: date | None
    registration: str | None = Field(description="single, main, subsidiary or null (unknown)")
    academic_year: str
    possible_sessions: int
    attended_sessions: int
    authorised_absence_sessions: int
    unauthorised_absence_sessions: int
    attendance_rate: float | None = Field(description="Percentage of possible sessions attended")
    persistent_absence: bool = Field(description="Absent for 10% or more of possible sessions")
    severe_absence: bool = Field(description="Absent for 50% or more of possible sessions")
    disadvantaged: bool | None = Field(description=DISADVANTAGED)
    fsm6: bool | None
    cla: bool | None
    plac: bool | None
    service_child: bool | None
    sen_group: str | None = Field(description="no_sen, sen_support, ehcp or unknown")
    eal: bool | None
    gender: str | None
    year_group: str | None
    compulsory_school_age: bool | None = Field(description="In the headline cohort's age range")

    @classmethod
    def from_row(cls, row: PupilAttendance) -> PupilAttendancePublic:
        """Shape a mart row for the API."""
        fields = row.model_dump(exclude={"academy_id", "record_key", "academic_year_start"})
        rate = fields.pop("attendance_rate")
        return cls.model_validate(
            fields | {"attendance_rate": None if rate is None else float(rate)}
        )


class PupilsPublic(SQLModel):
    """A page of pupil-level records; follow ``next_cursor`` for the next page."""

    academy_id: str
    academic_year: str
    data: list[PupilAttendancePublic]
    count: int
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


MEASURES = (
    "attendance_rate",
    "authorised_absence_rate",
    "unauthorised_absence_rate",
    "overall_absence_rate",
    "persistent_absence_rate",
    "severe_absence_rate",
)
"""The attendance measures (percentages) of ``mart_attendance_measures``."""


class AttendanceMeasures(SQLModel, table=True):
    """A row of ``marts.mart_attendance_measures``: a unit, period and pupil group."""

    __tablename__ = "mart_attendance_measures"
    __table_args__ = {"schema": "marts"}

    level: str = Field(primary_key=True)
    unit_id: str = Field(primary_key=True)
    academic_year: str = Field(primary_key=True)
    period_type: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    group_type: str = Field(primary_key=True)
    group_value: str = Field(primary_key=True)
    unit_name: str
    academic_year_start: int
    period_start: date
    period_end: date
    period_in_year: str
    suppressed: bool
    enrolments: int | None
    possible_sessions: int | None
    attended_sessions: int | None
    authorised_absence_sessions: int | None
    unauthorised_absence_sessions: int | None
    persistent_absence_enrolments: int | None
    severe_absence_enrolments: int | None
    attendance_rate: Decimal | None
    authorised_absence_rate: Decimal | None
    unauthorised_absence_rate: Decimal | None
    overall_absence_rate: Decimal | None
    persistent_absence_rate: Decimal | None
    severe_absence_rate: Decimal | None
    attendance_rate_gap_pp: Decimal | None
    authorised_absence_rate_gap_pp: Decimal | None
    unauthorised_absence_rate_gap_pp: Decimal | None
    overall_absence_rate_gap_pp: Decimal | None
    persistent_absence_rate_gap_pp: Decimal | None
    severe_absence_rate_gap_pp: Decimal | None
    attendance_rate_last_year: Decimal | None
    authorised_absence_rate_last_year: Decimal | None
    unauthorised_absence_rate_last_year: Decimal | None
    overall_absence_rate_last_year: Decimal | None
    persistent_absence_rate_last_year: Decimal | None
    severe_absence_rate_last_year: Decimal | None
    attendance_rate_change_pp: Decimal | None
    authorised_absence_rate_change_pp: Decimal | None
    unauthorised_absence_rate_change_pp: Decimal | None
    overall_absence_rate_change_pp: Decimal | None
    persistent_absence_rate_change_pp: Decimal | None
    severe_absence_rate_change_pp: Decimal | None
    attendance_rate_gap_pp_last_year: Decimal | None
    attendance_rate_gap_pp_change: Decimal | None
    authorised_absence_rate_gap_pp_last_year: Decimal | None
    authorised_absence_rate_gap_pp_change: Decimal | None
    unauthorised_absence_rate_gap_pp_last_year: Decimal | None
    unauthorised_absence_rate_gap_pp_change: Decimal | None
    overall_absence_rate_gap_pp_last_year: Decimal | None
    overall_absence_rate_gap_pp_change: Decimal | None
    persistent_absence_rate_gap_pp_last_year: Decimal | None
    persistent_absence_rate_gap_pp_change: Decimal | None
    severe_absence_rate_gap_pp_last_year: Decimal | None
    severe_absence_rate_gap_pp_change: Decimal | None


class _UnitRowPublic(SQLModel):
    """A public shape of a unit mart row (measures, attainment): ``from_row`` makes it."""

    @classmethod
    def from_row(cls, row: AttendanceMeasures | AttainmentMeasures) -> Self:
        """Shape a mart row for the API: decimals as numbers, the unit as id and name."""
        fields = row.model_dump(exclude={"unit_id", "unit_name", "academic_year_start"})
        numbers = {k: float(v) for k, v in fields.items() if isinstance(v, Decimal)}
        return cls.model_validate(fields | numbers | {"id": row.unit_id, "name": row.unit_name})


class AttendanceMeasuresPublic(_UnitRowPublic):
    """Attendance measures of one unit, period and pupil group, with gaps and trends.

    Rates are percentages (2 dp) of possible sessions, or of enrolments for persistent (10%+)
    and severe (50%+) absence. ``*_gap_pp``: disadvantaged minus other in the same unit and
    period, percentage points. ``*_last_year``: the same period a year earlier;
    ``*_change_pp``: this year minus it; ``*_gap_pp_last_year`` and ``*_gap_pp_change``: the
    same for each gap (a narrowing gap moves towards 0). Suppressed groups have every figure
    null.
    """

    level: str = Field(description="academy, hub or trust")
    id: str
    name: str
    academic_year: str = Field(schema_extra={"examples": ["2025-26"]})
    period_type: str = Field(schema_extra={"examples": ["term"]})
    period: str = Field(schema_extra={"examples": ["autumn"]})
    period_start: date
    period_end: date
    period_in_year: str = Field(description="The period's place in its year, to compare years")
    group_type: str = Field(schema_extra={"examples": ["disadvantage"]})
    group_value: str = Field(schema_extra={"examples": ["disadvantaged"]})
    suppressed: bool = Field(description="Fewer than 5 enrolments (or revealing one that is)")
    enrolments: int | None
    possible_sessions: int | None
    attended_sessions: int | None
    authorised_absence_sessions: int | None
    unauthorised_absence_sessions: int | None
    persistent_absence_enrolments: int | None
    severe_absence_enrolments: int | None
    attendance_rate: float | None
    authorised_absence_rate: float | None
    unauthorised_absence_rate: float | None
    overall_absence_rate: float | None
    persistent_absence_rate: float | None
    severe_absence_rate: float | None
    attendance_rate_gap_pp: float | None
    authorised_absence_rate_gap_pp: float | None
    unauthorised_absence_rate_gap_pp: float | None
    overall_absence_rate_gap_pp: float | None
    persistent_absence_rate_gap_pp: float | None
    severe_absence_rate_gap_pp: float | None
    attendance_rate_last_year: float | None
    authorised_absence_rate_last_year: float | None
    unauthorised_absence_rate_last_year: float | None
    overall_absence_rate_last_year: float | None
    persistent_absence_rate_last_year: float | None
    severe_absence_rate_last_year: float | None
    attendance_rate_change_pp: float | None
    authorised_absence_rate_change_pp: float | None
    unauthorised_absence_rate_change_pp: float | None
    overall_absence_rate_change_pp: float | None
    persistent_absence_rate_change_pp: float | None
    severe_absence_rate_change_pp: float | None
    attendance_rate_gap_pp_last_year: float | None
    attendance_rate_gap_pp_change: float | None
    authorised_absence_rate_gap_pp_last_year: float | None
    authorised_absence_rate_gap_pp_change: float | None
    unauthorised_absence_rate_gap_pp_last_year: float | None
    unauthorised_absence_rate_gap_pp_change: float | None
    overall_absence_rate_gap_pp_last_year: float | None
    overall_absence_rate_gap_pp_change: float | None
    persistent_absence_rate_gap_pp_last_year: float | None
    persistent_absence_rate_gap_pp_change: float | None
    severe_absence_rate_gap_pp_last_year: float | None
    severe_absence_rate_gap_pp_change: float | None
    cohort: str = COHORT


class AttendanceMeasuresPage(SQLModel):
    """A page of measures; follow ``next_cursor`` for the next page."""

    data: list[AttendanceMeasuresPublic]
    count: int
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class HubPublic(SQLModel):
    """A hub of academies."""

    id: str
    name: str
    academy_ids: list[str]


class HubsPublic(SQLModel):
    """The hubs the client's scopes cover."""

    data: list[HubPublic]
    count: int


class TrustPublic(SQLModel):
    """The trust, its hubs and academies."""

    id: str
    name: str
    hubs: list[HubPublic]


class RunPublic(SQLModel):
    """One run of a feed: a batch from extract to publish, with counts and watermarks."""

    batch_id: str
    stream: str
    run_id: str | None = Field(description="The Airflow run that made it, when one did")
    source: str | None = Field(description="incremental, full, backfill, release ...")
    status: str = Field(description="published, blocked, failed, discarded ...")
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    rows_landed: int
    rows_published: int
    rows_quarantined: int
    rows_inserted: int
    rows_updated: int
    rows_removed: int
    watermark_before: datetime | None
    watermark_after: datetime | None
    message: str | None = Field(description="Why it failed or was blocked (counts, never data)")


class RunsPage(SQLModel):
    """A page of runs, newest first; follow ``next_cursor`` for older ones."""

    academy_id: str
    data: list[RunPublic]
    count: int
    next_cursor: str | None


class AttainmentMeasures(SQLModel, table=True):
    """A row of ``marts.mart_attainment_measures``: a unit, year, key stage and pupil group."""

    __tablename__ = "mart_attainment_measures"
    __table_args__ = {"schema": "marts"}

    level: str = Field(primary_key=True)
    unit_id: str = Field(primary_key=True)
    academic_year: str = Field(primary_key=True)
    key_stage: str = Field(primary_key=True)
    group_type: str = Field(primary_key=True)
    group_value: str = Field(primary_key=True)
    unit_name: str
    academic_year_start: int
    suppressed: bool
    pupils: int | None
    rwm_expected_pupils: int | None
    rwm_higher_pupils: int | None
    reading_scored_pupils: int | None
    maths_scored_pupils: int | None
    em_grade4_pupils: int | None
    em_grade5_pupils: int | None
    gap_index_excluded_pupils: int | None
    gap_index_ranked_pupils: int | None
    rwm_expected_rate: Decimal | None
    rwm_higher_rate: Decimal | None
    reading_mean_scaled_score: Decimal | None
    maths_mean_scaled_score: Decimal | None
    attainment8_mean: Decimal | None
    em_grade4_rate: Decimal | None
    em_grade5_rate: Decimal | None
    rwm_expected_rate_gap_pp: Decimal | None
    rwm_higher_rate_gap_pp: Decimal | None
    reading_mean_scaled_score_gap_points: Decimal | None
    maths_mean_scaled_score_gap_points: Decimal | None
    attainment8_mean_gap_points: Decimal | None
    em_grade4_rate_gap_pp: Decimal | None
    em_grade5_rate_gap_pp: Decimal | None
    within_trust_gap_index: Decimal | None
    rwm_expected_rate_last_year: Decimal | None
    rwm_expected_rate_change_pp: Decimal | None
    rwm_expected_rate_gap_pp_last_year: Decimal | None
    rwm_expected_rate_gap_pp_change: Decimal | None
    rwm_higher_rate_last_year: Decimal | None
    rwm_higher_rate_change_pp: Decimal | None
    rwm_higher_rate_gap_pp_last_year: Decimal | None
    rwm_higher_rate_gap_pp_change: Decimal | None
    reading_mean_scaled_score_last_year: Decimal | None
    reading_mean_scaled_score_change_points: Decimal | None
    reading_mean_scaled_score_gap_points_last_year: Decimal | None
    reading_mean_scaled_score_gap_points_change: Decimal | None
    maths_mean_scaled_score_last_year: Decimal | None
    maths_mean_scaled_score_change_points: Decimal | None
    maths_mean_scaled_score_gap_points_last_year: Decimal | None
    maths_mean_scaled_score_gap_points_change: Decimal | None
    attainment8_mean_last_year: Decimal | None
    attainment8_mean_change_points: Decimal | None
    attainment8_mean_gap_points_last_year: Decimal | None
    attainment8_mean_gap_points_change: Decimal | None
    em_grade4_rate_last_year: Decimal | None
    em_grade4_rate_change_pp: Decimal | None
    em_grade4_rate_gap_pp_last_year: Decimal | None
    em_grade4_rate_gap_pp_change: Decimal | None
    em_grade5_rate_last_year: Decimal | None
    em_grade5_rate_change_pp: Decimal | None
    em_grade5_rate_gap_pp_last_year: Decimal | None
    em_grade5_rate_gap_pp_change: Decimal | None
    within_trust_gap_index_last_year: Decimal | None
    within_trust_gap_index_change: Decimal | None


class AttainmentMeasuresPublic(_UnitRowPublic):
    """KS2 or KS4 attainment of one unit, year and pupil group, with gaps and trends.

    KS2: % of pupils meeting the expected (``rwm_expected_rate``) and higher standard in
    reading, writing and maths, and mean reading and maths scaled scores. KS4: mean
    Attainment 8 and % with grade 4+ and 5+ in English and maths. ``*_gap_pp`` /
    ``*_gap_points``: disadvantaged minus other. ``within_trust_gap_index``: the DfE's gap
    index method (-10..10, 0 = no gap) over the pupils of this unit only, so NOT comparable
    with the DfE's national index. ``*_last_year`` and ``*_change_*``: against the year
    before. Suppressed groups have every figure null.
    """

    level: str = Field(description="academy, hub or trust")
    id: str
    name: str
    academic_year: str = Field(schema_extra={"examples": ["2024-25"]})
    key_stage: str = Field(schema_extra={"examples": ["KS2"]})
    group_type: str = Field(schema_extra={"examples": ["disadvantage"]})
    group_value: str = Field(schema_extra={"examples": ["disadvantaged"]})
    suppressed: bool = Field(description="Fewer than 5 pupils (or revealing a group that is)")
    pupils: int | None
    rwm_expected_pupils: int | None
    rwm_higher_pupils: int | None
    reading_scored_pupils: int | None
    maths_scored_pupils: int | None
    em_grade4_pupils: int | None
    em_grade5_pupils: int | None
    gap_index_excluded_pupils: int | None
    gap_index_ranked_pupils: int | None
    rwm_expected_rate: float | None
    rwm_higher_rate: float | None
    reading_mean_scaled_score: float | None
    maths_mean_scaled_score: float | None
    attainment8_mean: float | None
    em_grade4_rate: float | None
    em_grade5_rate: float | None
    rwm_expected_rate_gap_pp: float | None
    rwm_higher_rate_gap_pp: float | None
    reading_mean_scaled_score_gap_points: float | None
    maths_mean_scaled_score_gap_points: float | None
    attainment8_mean_gap_points: float | None
    em_grade4_rate_gap_pp: float | None
    em_grade5_rate_gap_pp: float | None
    within_trust_gap_index: float | None
    rwm_expected_rate_last_year: float | None
    rwm_expected_rate_change_pp: float | None
    rwm_expected_rate_gap_pp_last_year: float | None
    rwm_expected_rate_gap_pp_change: float | None
    rwm_higher_rate_last_year: float | None
    rwm_higher_rate_change_pp: float | None
    rwm_higher_rate_gap_pp_last_year: float | None
    rwm_higher_rate_gap_pp_change: float | None
    reading_mean_scaled_score_last_year: float | None
    reading_mean_scaled_score_change_points: float | None
    reading_mean_scaled_score_gap_points_last_year: float | None
    reading_mean_scaled_score_gap_points_change: float | None
    maths_mean_scaled_score_last_year: float | None
    maths_mean_scaled_score_change_points: float | None
    maths_mean_scaled_score_gap_points_last_year: float | None
    maths_mean_scaled_score_gap_points_change: float | None
    attainment8_mean_last_year: float | None
    attainment8_mean_change_points: float | None
    attainment8_mean_gap_points_last_year: float | None
    attainment8_mean_gap_points_change: float | None
    em_grade4_rate_last_year: float | None
    em_grade4_rate_change_pp: float | None
    em_grade4_rate_gap_pp_last_year: float | None
    em_grade4_rate_gap_pp_change: float | None
    em_grade5_rate_last_year: float | None
    em_grade5_rate_change_pp: float | None
    em_grade5_rate_gap_pp_last_year: float | None
    em_grade5_rate_gap_pp_change: float | None
    within_trust_gap_index_last_year: float | None
    within_trust_gap_index_change: float | None
    disadvantaged_definition: str = DISADVANTAGED


class AttainmentMeasuresPage(SQLModel):
    """A page of attainment measures; follow ``next_cursor`` for the next page."""

    data: list[AttainmentMeasuresPublic]
    count: int
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )
