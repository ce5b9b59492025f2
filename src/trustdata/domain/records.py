"""Canonical records every adapter yields, whatever the MIS.

They are NamedTuples on purpose: an extract of a full year is tens of millions of marks, and a
tuple goes straight into PostgreSQL's COPY without another copy in memory.
Pupils carry their UPN as identity; the MIS id is only a source attribute.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

#: Values of ``CharacteristicPeriodRecord.characteristic``.
CHARACTERISTICS = ("fsm", "cla", "plac", "service_child")
#: Values of ``EnrolmentRecord.registration`` (None: the MIS does not say).
REGISTRATIONS = ("single", "main", "subsidiary")
#: Values of ``DeletionRecord.object_type``: a pupil (by MIS pupil id), a register mark (by MIS
#: mark id).
PUPIL_OBJECT = "pupil"
MARK_OBJECT = "attendance_mark"


class PupilRecord(NamedTuple):
    """A pupil as one MIS sees them, with the characteristics the gap measures need.

    Names are deliberately not carried: no measure needs them.
    """

    mis_id: str
    upn: str | None
    date_of_birth: date | None
    gender: str | None
    nc_year: int | None
    fsm_eligible: bool | None
    fsm6: bool | None
    in_care: bool | None
    previously_in_care: bool | None
    service_child: bool | None
    sen_status: str | None
    eal: bool | None
    admission_date: date | None
    leaving_date: date | None
    source_updated_at: datetime | None


class AttendanceMarkRecord(NamedTuple):
    """One register mark for one pupil and session, with the MIS's own code."""

    mis_mark_id: str | None
    mis_pupil_id: str
    mark_date: date
    session: str
    source_code: str
    source_updated_at: datetime | None


class DeletionRecord(NamedTuple):
    """An object the MIS says it deleted (a pupil record entered in error, a register mark).

    ``object_type`` is ``PUPIL_OBJECT`` or ``MARK_OBJECT``; ``mis_id`` the deleted object's MIS id.
    Deletions are applied explicitly; nothing is inferred from a record missing from a feed.
    """

    object_type: str
    mis_id: str
    deleted_at: datetime | None


class EnrolmentRecord(NamedTuple):
    """One period a pupil is on the academy's roll.

    A pupil's enrolments are sent whole: the set a batch holds for a pupil replaces the set
    stored for them (a corrected start date withdraws the old row; nothing is deleted).
    ``registration`` is ``single``, ``main`` or ``subsidiary`` (dual registration), or None
    where the MIS does not say.
    """

    mis_pupil_id: str
    start_date: date
    end_date: date | None
    registration: str | None
    source_updated_at: datetime | None


class CharacteristicPeriodRecord(NamedTuple):
    """A dated period of a characteristic: ``fsm``, ``cla``, ``plac`` or ``service_child``.

    "Disadvantaged as at a date" is derived from these periods (FSM6 since April 2018, CLA,
    PLAC), not from a vendor's one-bit flag. Periods are sent whole per pupil and
    characteristic, as enrolments are. ``end_date`` None: still open.
    """

    mis_pupil_id: str
    characteristic: str
    start_date: date
    end_date: date | None
    source_updated_at: datetime | None


class AssessmentResultRecord(NamedTuple):
    """One statutory assessment result, e.g. KS2 reading test or a GCSE grade.

    ``assessment_year`` is the calendar year the assessment was taken (the summer of the
    academic year). ``method`` is how it was assessed (``TT`` test, ``TA`` teacher assessment,
    ``EX`` examination ...) and ``component`` narrows a subject ("" when none). ``result`` is
    the score, grade or result code exactly as sent (e.g. ``104``, ``EXS``, ``7``, ``U``, ``A``).
    """

    mis_pupil_id: str
    key_stage: str
    assessment_year: int
    subject: str
    method: str
    component: str
    result: str
    source_updated_at: datetime | None


class AttendanceSummaryRecord(NamedTuple):
    """A pupil's session totals for one academic year at one school, as a CTF carries them.

    ``academic_year_start`` is the calendar year the academic year starts in (2024 for
    2024/25); ``school_laestab`` is the school's LA number and establishment number (7 digits),
    which may be a previous school's.
    """

    mis_pupil_id: str
    academic_year_start: int
    school_laestab: str
    sessions_possible: int
    sessions_authorised: int
    sessions_attended: int
    sessions_unauthorised: int
    source_updated_at: datetime | None
