"""Canonical records every adapter yields, whatever the MIS.

They are NamedTuples on purpose: an extract of a full year is tens of millions of marks, and a
tuple goes straight into PostgreSQL's COPY without another copy in memory.
Pupils carry their UPN as identity; the MIS id is only a source attribute.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple


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
    """An object the MIS says it deleted (a pupil record entered in error, say).

    Deletions are applied explicitly; nothing is inferred from a record missing from a feed.
    """

    object_type: str
    mis_id: str
    deleted_at: datetime | None
