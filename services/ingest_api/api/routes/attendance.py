"""Attendance of disadvantaged pupils and others, and the gap, per academy, hub and trust."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.models import AttendanceGapPublic
from ingest_api.problems import Problem
from trustdata.warehouse.tables import trust

router = APIRouter(tags=["attendance"])

YearQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-\d{2}$",
        description="Academic year as YYYY-YY, e.g. 2025-26 (default: the latest with data)",
        examples=["2025-26"],
    ),
]
IdPath = Annotated[
    str, Path(pattern=r"^[a-z][a-z0-9_]{1,40}$", description="Id in the trust config")
]
AcademyIdPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{1,40}$",
        description="The academy's id in the trust config",
        examples=["oakfield"],
    ),
]
HubIdPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{1,40}$",
        description="The hub's id in the trust config",
        examples=["north"],
    ),
]


def check_year(academic_year: str | None) -> None:
    """422 for a YYYY-YY whose two years do not follow each other."""
    if academic_year is None:
        return
    start, end = int(academic_year[:4]), int(academic_year[5:])
    if (start + 1) % 100 != end:
        raise Problem(
            422,
            "Invalid request parameters",
            f"academic_year: {academic_year} is not a school year; write it as "
            f"{start}-{(start + 1) % 100:02d}",
        )


def _gap(
    session: SessionDep, access: AccessDep, level: str, unit_id: str, academic_year: str | None
) -> AttendanceGapPublic:
    check_year(academic_year)
    require_unit(access, session, level=level, unit_id=unit_id)
    row = crud.attendance_gap(session, level=level, unit_id=unit_id, academic_year=academic_year)
    if row is None:
        years = crud.years_available(session, level=level, unit_id=unit_id)
        detail = f"no attendance data for {level} {unit_id!r}" + (
            f" in {academic_year}; years with data: {', '.join(years)}" if years else " yet"
        )
        raise Problem(404, "No data", detail, years_available=years)
    return AttendanceGapPublic.from_row(row)


@router.get("/trust/attendance-gap", response_model=AttendanceGapPublic)
def trust_attendance_gap(
    session: SessionDep, access: AccessDep, academic_year: YearQuery = None
) -> AttendanceGapPublic:
    """Trust-wide attendance of disadvantaged pupils and of others, and the gap."""
    trust_id = session.connection().execute(select(trust.c.trust_id)).scalar_one_or_none()
    if trust_id is None:
        raise Problem(404, "Unknown trust", "the warehouse holds no trust yet: run the pipeline")
    return _gap(session, access, "trust", trust_id, academic_year)


@router.get("/hubs/{hub_id}/attendance-gap", response_model=AttendanceGapPublic)
def hub_attendance_gap(
    session: SessionDep, access: AccessDep, hub_id: HubIdPath, academic_year: YearQuery = None
) -> AttendanceGapPublic:
    """A hub's attendance of disadvantaged pupils and of others, and the gap."""
    return _gap(session, access, "hub", hub_id, academic_year)


@router.get("/academies/{academy_id}/attendance-gap", response_model=AttendanceGapPublic)
def academy_attendance_gap(
    session: SessionDep,
    access: AccessDep,
    academy_id: AcademyIdPath,
    academic_year: YearQuery = None,
) -> AttendanceGapPublic:
    """An academy's attendance of disadvantaged pupils and of others, and the gap."""
    return _gap(session, access, "academy", academy_id, academic_year)
