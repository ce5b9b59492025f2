"""How each pupil-keyed stream lands, publishes and is kept: one description per stream.

Enrolments, characteristic periods, assessment results and attendance summaries all arrive
keyed by the MIS's pupil id and are published keyed by UPN (resolved through the academy's
published roll), with a natural key, data columns and the source's timestamp. Attendance marks
share the shape but keep their own publish path (superseded marks, code mapping).

"Sent whole" streams (enrolments, characteristic periods) carry a pupil's complete set in every
batch that names the pupil: a stored row the batch no longer holds is marked ``withdrawn_at``
(kept for audit, left out of the marts), and comes back if a later batch sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from trustdata.adapters.base import Stream
from trustdata.warehouse.tables import (
    assessment_results,
    assessments_landing,
    attendance_summaries,
    attendance_summaries_landing,
    characteristic_periods,
    characteristics_landing,
    enrolments,
    enrolments_landing,
)


@dataclass(frozen=True, slots=True)
class PupilKeyedStream:
    """One pupil-keyed stream: its staging and raw tables, key and data columns.

    ``key`` and ``data`` name raw columns beyond ``academy_id`` and ``upn``; staging has the
    same names plus ``mis_pupil_id``. ``whole_per`` is None for a plain upsert, or the key
    columns (beyond the UPN) that group a set sent whole: ``()`` for "all of a pupil's rows".
    """

    stream: Stream
    landing: Table
    raw: Table
    key: tuple[str, ...]
    data: tuple[str, ...]
    whole_per: tuple[str, ...] | None = None


PUPIL_KEYED: dict[Stream, PupilKeyedStream] = {
    spec.stream: spec
    for spec in (
        PupilKeyedStream(
            Stream.ENROLMENTS,
            enrolments_landing,
            enrolments,
            key=("start_date",),
            data=("end_date", "registration"),
            whole_per=(),
        ),
        PupilKeyedStream(
            Stream.CHARACTERISTICS,
            characteristics_landing,
            characteristic_periods,
            key=("characteristic", "start_date"),
            data=("end_date",),
            whole_per=("characteristic",),
        ),
        PupilKeyedStream(
            Stream.ASSESSMENTS,
            assessments_landing,
            assessment_results,
            key=("key_stage", "assessment_year", "subject", "method", "component"),
            data=("result",),
        ),
        PupilKeyedStream(
            Stream.ATTENDANCE_SUMMARIES,
            attendance_summaries_landing,
            attendance_summaries,
            key=("academic_year_start", "school_laestab"),
            data=(
                "sessions_possible",
                "sessions_authorised",
                "sessions_attended",
                "sessions_unauthorised",
            ),
        ),
    )
}

#: The streams sent whole per pupil, the only ones whose pages may name ``covers``.
WHOLE_STREAMS = frozenset(s for s, spec in PUPIL_KEYED.items() if spec.whole_per is not None)
