"""Custom Great Expectations for this domain, where GX has none.

Each is an ``UnexpectedRowsExpectation`` (GX 1.x's custom SQL expectation) whose query is built
from typed fields, so a suite in ``expectations/`` names it by type with plain kwargs, e.g.
``{"type": "expect_mark_code_valid_on_date", "kwargs": {}}``. A query selects the batch's
failing rows whole (``*`` or ``b.*``), so the audit can quarantine exactly those rows; a
batch-level check (completeness) selects one row per failing day instead.

Importing this module imports GX (several seconds); nothing imports it at DAG-parse time.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)

from trustdata.domain.codes import national_code_table
from trustdata.warehouse.sql import sql_literal


def _dates(values: list[str]) -> str:
    checked = [date.fromisoformat(value).isoformat() for value in values]
    return "ARRAY[" + ", ".join(f"DATE {sql_literal(v)}" for v in checked) + "]::date[]"


class _DomainQuery(UnexpectedRowsExpectation):
    """Base: the query is derived from the fields (``_query``), never written by hand.

    Only the failing rows' count is computed: GX's other metric of this expectation fetches
    the failing rows themselves (pupil data, and memory on a large batch), which the audit
    never needs; it quarantines the rows in the database.
    """

    unexpected_rows_query: str = ""
    reason: ClassVar[str] = ""
    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        failing = int(metrics["unexpected_rows_query.row_count"])
        return {"success": failing == 0, "result": {"observed_value": failing}}

    @pydantic.root_validator(pre=True)
    def _derive_query(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["unexpected_rows_query"] = cls._query(values)
        values.setdefault("description", cls.reason)
        return values

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        raise NotImplementedError


class ExpectColumnValuesToBeValidUpn(_DomainQuery):
    """The UPN is present, 13 characters of the DfE's shape, with the right check letter."""

    column: str = "upn"
    reason: ClassVar[str] = "UPN missing, badly formed or with a wrong check letter"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        column = values.get("column", "upn")
        return f"SELECT * FROM {{batch}} WHERE {column} IS NULL OR NOT meta.upn_is_valid({column})"


class ExpectPupilUpnUnchanged(_DomainQuery):
    """A pupil the roll already holds keeps its UPN.

    A changed UPN (a temporary one replaced, or a typo corrected) leaves the old one on the
    published roll beside the new: one pupil with two UPNs until a reconciliation removes the
    old. Reported for the data team to check; the row is not held back, since the new UPN is
    usually the right one.
    """

    reason: ClassVar[str] = "pupils the published roll holds under another UPN"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        return (
            "SELECT b.* FROM {batch} AS b JOIN raw.pupils AS p "
            "ON p.academy_id = b.academy_id AND p.mis_id = b.mis_id "
            "AND p.deleted_at IS NULL AND p.upn <> b.upn"
        )


class ExpectMarkCodeValidOnDate(_DomainQuery):
    """The mark's national code is in the national code table on the mark's date.

    The landing step maps the MIS's code (through the academy's ``code_map``) onto the code in
    force on the date and leaves it empty when there is none; this checks the result against
    the table's effective dates, so a code withdrawn on 19 August 2024 (H, J pre-2024 meanings
    aside) fails on a later date.
    """

    reason: ClassVar[str] = "code not mapped to a national code in force on the mark's date"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        rows = ", ".join(
            f"({sql_literal(code.code)}, DATE {sql_literal(code.effective_from.isoformat())}, "
            + (
                f"DATE {sql_literal(code.effective_to.isoformat())})"
                if code.effective_to
                else "NULL::date)"
            )
            for code in national_code_table().codes
        )
        return (
            "SELECT b.* FROM {batch} AS b LEFT JOIN "
            f"(VALUES {rows}) AS national(code, effective_from, effective_to) "
            "ON national.code = b.code AND b.mark_date >= national.effective_from "
            "AND (national.effective_to IS NULL OR b.mark_date <= national.effective_to) "
            "WHERE national.code IS NULL"
        )


class ExpectOneMarkPerSession(_DomainQuery):
    """Each pupil, date and session has one mark: its most recent version is unambiguous.

    A batch may hold several versions of a mark (a change log, two export files); publish
    keeps the most recent. Rows fail when the most recent versions disagree on the code.
    """

    reason: ClassVar[str] = "two different marks for the same pupil, date and session"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        key = "mis_pupil_id, mark_date, session"
        # A pupil's day whose marks could repeat a session: more than two, or two whose
        # sessions start with the same letter (AM and PM do not). Grouped by pupil and day, not
        # by session too, with integers compared, this finds the few such days in a third less
        # time than grouping every key (measured on 1,000,000 marks: 710 ms -> 450 ms); the
        # next steps look only at their marks, so a false alarm costs nothing but time.
        doubtful = (
            "SELECT c.mis_pupil_id, c.mark_date FROM {batch} AS c "
            "GROUP BY c.mis_pupil_id, c.mark_date HAVING count(*) > 2 "
            "OR (count(*) = 2 AND min(ascii(c.session)) = max(ascii(c.session)))"
        )
        # Keys sent more than once, then among those the ones whose versions differ (text
        # comparisons only on the few repeated keys).
        repeated = (
            f"SELECT {key} FROM {{batch}} AS r WHERE (r.mis_pupil_id, r.mark_date) IN "
            f"({doubtful}) GROUP BY {key} HAVING count(*) > 1"
        )
        differing = (
            f"SELECT {key} FROM {{batch}} AS k WHERE ({key}) IN ({repeated}) GROUP BY {key} "
            "HAVING min(source_code) <> max(source_code)"
        )
        latest = (
            f"SELECT {key}, source_code, rank() OVER (PARTITION BY {key} "
            "ORDER BY source_updated_at DESC NULLS LAST) AS version "
            f"FROM {{batch}} AS d JOIN ({differing}) AS differing USING ({key})"
        )
        return (
            f"SELECT b.* FROM {{batch}} AS b JOIN (SELECT {key} FROM ({latest}) AS v "
            f"WHERE version = 1 GROUP BY {key} HAVING min(source_code) <> max(source_code)) "
            f"AS ambiguous USING ({key})"
        )


class ExpectPupilOnPublishedRoll(_DomainQuery):
    """The row's MIS pupil is on the academy's published roll (``raw.pupils``)."""

    reason: ClassVar[str] = "row for a pupil not on the academy's published roll"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        return (
            "SELECT b.* FROM {batch} AS b LEFT JOIN raw.pupils AS p "
            "ON p.academy_id = b.academy_id AND p.mis_id = b.mis_pupil_id "
            "WHERE p.mis_id IS NULL"
        )


def _spells(academy_id: str) -> str:
    """The academy's spells on roll, by MIS pupil id: enrolments, or for a pupil the source
    sends no enrolments for, the roll's admission to leaving dates (open ends: NULL)."""
    academy = sql_literal(academy_id)
    return (
        "SELECT p.mis_id, e.start_date AS starts, e.end_date AS ends "
        "FROM raw.pupils AS p JOIN raw.enrolments AS e ON e.academy_id = p.academy_id "
        "AND e.upn = p.upn AND e.withdrawn_at IS NULL "
        f"WHERE p.academy_id = {academy} AND p.deleted_at IS NULL "
        "UNION ALL SELECT p.mis_id, p.admission_date, p.leaving_date FROM raw.pupils AS p "
        f"WHERE p.academy_id = {academy} AND p.deleted_at IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM raw.enrolments AS e WHERE e.academy_id = p.academy_id "
        "AND e.upn = p.upn AND e.withdrawn_at IS NULL)"
    )


def _weekend(day: str) -> str:
    """SQL true when ``day`` is a Saturday or Sunday.

    Days counted from a Monday (3 January 2000), in integers: ``extract(isodow ...)`` goes
    through a timestamp and a numeric for every row, and costs a scan of a batch half as much
    again (measured on 420,194 marks: 37 ms against 24 ms).
    """
    return f"(({day} - DATE '2000-01-03') % 7 + 7) % 7 >= 5"


def _covers(spell: str, day: str) -> str:
    return (
        f"({spell}.starts IS NULL OR {spell}.starts <= {day}) "
        f"AND ({spell}.ends IS NULL OR {spell}.ends >= {day})"
    )


class ExpectMarkPupilEnrolledOnDate(_DomainQuery):
    """The mark's pupil was enrolled at the academy on the mark's date.

    Marks of a pupil not on the roll at all fail ``pupil_known`` instead.
    """

    academy_id: str
    reason: ClassVar[str] = "mark on a date the pupil was not enrolled at the academy"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        # A pupil one spell covers from their first mark in the batch to their last (nearly
        # every pupil) has no mark to look at: marks are matched to the spells only for the
        # other pupils on the roll, so the batch is grouped once by pupil rather than every
        # mark matched (measured on 420,194 marks: 148 ms -> 60 ms).
        academy = sql_literal(values["academy_id"])
        return (
            f"WITH spells AS ({_spells(values['academy_id'])}), "
            "marked AS (SELECT m.mis_pupil_id, min(m.mark_date) AS first, "
            "max(m.mark_date) AS last FROM {batch} AS m GROUP BY m.mis_pupil_id), "
            "doubtful AS MATERIALIZED (SELECT marked.mis_pupil_id FROM marked WHERE EXISTS "
            f"(SELECT 1 FROM raw.pupils AS p WHERE p.academy_id = {academy} "
            "AND p.mis_id = marked.mis_pupil_id AND p.deleted_at IS NULL) AND NOT EXISTS "
            "(SELECT 1 FROM spells AS s WHERE s.mis_id = marked.mis_pupil_id "
            f"AND {_covers('s', 'marked.first')} AND {_covers('s', 'marked.last')})) "
            "SELECT b.* FROM {batch} AS b JOIN doubtful ON doubtful.mis_pupil_id = b.mis_pupil_id "
            "WHERE NOT EXISTS (SELECT 1 FROM spells AS s WHERE s.mis_id = b.mis_pupil_id "
            f"AND {_covers('s', 'b.mark_date')})"
        )


class ExpectMarkNotDeletedInMis(_DomainQuery):
    """The MIS has not since deleted the mark (a read that raced the deletion)."""

    reason: ClassVar[str] = "the MIS has since deleted this mark"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        return (
            "SELECT b.* FROM {batch} AS b JOIN raw.deletions AS d "
            "ON d.academy_id = b.academy_id AND d.object_type = 'attendance_mark' "
            "AND d.mis_id = b.mis_mark_id"
        )


class ExpectMarkOnOpenDay(_DomainQuery):
    """The mark falls on a day the academy is open: a weekday, not one of its closure days.

    A closure day may carry the national code ``#`` (planned whole-school closure) only.
    """

    closed_dates: list[str] = pydantic.Field(default_factory=list)
    reason: ClassVar[str] = "mark on a weekend or on a day the academy is closed"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        closed = values.get("closed_dates") or []
        on_closure = f" OR (mark_date = ANY({_dates(closed)}) AND code <> '#')" if closed else ""
        return f"SELECT * FROM {{batch}} WHERE {_weekend('mark_date')}{on_closure}"


class ExpectDailyMarkCompleteness(_DomainQuery):
    """Each school day in the batch has at least ``min_share`` of its expected marks.

    School days: weekdays other than the academy's ``closed_dates``. Expected: two sessions
    for every pupil on roll that day. Present: the batch's marks, with (``with_published``, for
    an incremental batch, which carries only changes) those already published for the day.
    One failing row per short day, so this is a batch-level check.
    """

    academy_id: str
    min_share: float = 0.9
    closed_dates: list[str] = pydantic.Field(default_factory=list)
    with_published: bool = True
    reason: ClassVar[str] = "school days with fewer marks than the roll expects"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        share = float(values.get("min_share", 0.9))
        closed = values.get("closed_dates") or []
        school_day = f"NOT {_weekend('g.mark_date')}" + (
            f" AND NOT g.mark_date = ANY({_dates(closed)})" if closed else ""
        )
        academy = sql_literal(values["academy_id"])
        if values.get("with_published", True):
            # The batch's school days first, then each (day, pupil, session) once among the
            # batch's marks and those published for those days (UNION removes duplicates).
            present = (
                "days AS (SELECT g.mark_date FROM (SELECT d.mark_date FROM {batch} AS d "
                f"GROUP BY d.mark_date) AS g WHERE {school_day}), "
                "marks AS (SELECT b.mark_date, b.mis_pupil_id, b.session FROM {batch} AS b "
                "JOIN days ON days.mark_date = b.mark_date "
                "UNION SELECT m.mark_date, p.mis_id, m.session FROM raw.attendance_marks AS m "
                "JOIN days ON days.mark_date = m.mark_date JOIN raw.pupils AS p "
                f"ON p.academy_id = m.academy_id AND p.upn = m.upn WHERE m.academy_id = {academy}), "
                "present AS (SELECT mark_date, count(*) AS marks FROM marks GROUP BY mark_date)"
            )
        else:
            # One pass over the batch: each (day, pupil, session) once, counted by day; the
            # school days are then picked from the few days counted (measured on 420,194
            # marks: 560 ms -> 420 ms, against matching every mark to the school days).
            present = (
                "present AS MATERIALIZED (SELECT k.mark_date, count(*) AS marks FROM "
                "(SELECT DISTINCT d.mark_date, d.mis_pupil_id, d.session FROM {batch} AS d) "
                "AS k GROUP BY k.mark_date), "
                f"days AS (SELECT g.mark_date FROM present AS g WHERE {school_day})"
            )
        # Expected: each pupil on roll that day once. A pupil with one spell is one row per
        # day it covers, so is counted as rows; only pupils with several spells are counted
        # distinct, which sorts (measured on 1,000,000 marks of 2,000 pupils: the check
        # 1,050 ms -> 840 ms, against counting every pupil distinct).
        on_roll = (
            "SELECT d.mark_date, {count} AS pupils FROM days AS d JOIN counted AS s "
            f"ON s.spells {{spells}} AND {_covers('s', 'd.mark_date')} GROUP BY d.mark_date"
        )
        one = on_roll.format(count="count(*)", spells="= 1")
        several = on_roll.format(count="count(DISTINCT s.mis_id)", spells="> 1")
        return (
            f"WITH spells AS ({_spells(values['academy_id'])}), {present}, "
            "counted AS (SELECT s.*, count(*) OVER (PARTITION BY s.mis_id) AS spells "
            "FROM spells AS s), "
            "expected AS (SELECT days.mark_date, "
            "2 * (coalesce(one.pupils, 0) + coalesce(several.pupils, 0)) AS marks FROM days "
            f"LEFT JOIN ({one}) AS one ON one.mark_date = days.mark_date "
            f"LEFT JOIN ({several}) AS several ON several.mark_date = days.mark_date) "
            "SELECT e.mark_date, e.marks AS expected, coalesce(present.marks, 0) AS present "
            "FROM expected AS e LEFT JOIN present ON present.mark_date = e.mark_date "
            f"WHERE coalesce(present.marks, 0) < {share!r} * e.marks"
        )


class ExpectPeriodsNotToOverlap(_DomainQuery):
    """No two of a pupil's periods of the same kind overlap (FSM, CLA, SEN, EAL ...).

    ``kind`` names the column that says what the period is; every period of an overlapping
    pair fails. Open periods (no end date) run to the end of time.
    """

    kind: str = "characteristic"
    reason: ClassVar[str] = "periods of the same characteristic overlap"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        kind = values.get("kind", "characteristic")
        window = f"PARTITION BY academy_id, mis_pupil_id, {kind} ORDER BY start_date, end_date"
        return (
            "SELECT * FROM (SELECT *, "
            "max(coalesce(end_date, 'infinity'::date)) OVER "
            f"({window} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ends_before, "
            f"lead(start_date) OVER ({window}) AS next_start "
            "FROM {batch}) AS periods "
            "WHERE start_date <= ends_before "
            "OR next_start <= coalesce(end_date, 'infinity'::date)"
        )


class ExpectKs2TestResultValid(_DomainQuery):
    """A KS2 test result is a scaled score from 80 to 120 or one of the DfE's result codes."""

    reason: ClassVar[str] = "KS2 test result is neither a scaled score 80-120 nor a result code"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        from trustdata.domain import checks

        low, high = checks.KS2_SCORE_RANGE
        codes = ", ".join(sql_literal(code) for code in checks.KS2_RESULT_CODES)
        return (
            "SELECT * FROM {batch} WHERE key_stage = 'KS2' AND method = 'TT' AND NOT "
            "CASE WHEN result ~ '^[0-9]{{2,3}}$' "
            f"THEN result::int BETWEEN {low} AND {high} ELSE result IN ({codes}) END"
        )


class ExpectGcseGradeValid(_DomainQuery):
    """A GCSE subject grade is 9 to 1, U (ungraded) or X (no result)."""

    reason: ClassVar[str] = "GCSE grade is not 9-1, U or X"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        from trustdata.domain import checks

        grades = ", ".join(sql_literal(grade) for grade in checks.GCSE_GRADES)
        return (
            "SELECT * FROM {batch} WHERE key_stage = 'KS4' AND subject <> '' "
            f"AND method = 'EX' AND result NOT IN ({grades})"
        )


class ExpectSessionCountsConsistent(_DomainQuery):
    """Session counts are not negative, and attended plus absent do not exceed possible."""

    reason: ClassVar[str] = "session counts are negative, or attended and absent exceed possible"

    @classmethod
    def _query(cls, values: dict[str, Any]) -> str:
        return (
            "SELECT * FROM {batch} WHERE sessions_possible < 0 OR sessions_authorised < 0 "
            "OR sessions_attended < 0 OR sessions_unauthorised < 0 "
            "OR sessions_attended + sessions_authorised + sessions_unauthorised "
            "> sessions_possible"
        )


CUSTOM: dict[str, type[_DomainQuery]] = {
    cls.expectation_type: cls
    for cls in (
        ExpectColumnValuesToBeValidUpn,
        ExpectPupilUpnUnchanged,
        ExpectMarkCodeValidOnDate,
        ExpectOneMarkPerSession,
        ExpectPupilOnPublishedRoll,
        ExpectMarkPupilEnrolledOnDate,
        ExpectMarkNotDeletedInMis,
        ExpectMarkOnOpenDay,
        ExpectDailyMarkCompleteness,
        ExpectPeriodsNotToOverlap,
        ExpectKs2TestResultValid,
        ExpectGcseGradeValid,
        ExpectSessionCountsConsistent,
    )
}
"""The domain's expectation types, by the snake-case name GX registers them under."""
