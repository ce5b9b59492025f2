"""Attendance of disadvantaged pupils and others, and the gap, per academy, hub and trust."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ingest_api import crud
from ingest_api.api.deps import AccessDep, CacheDep, SessionDep, require_unit, trust_id
from ingest_api.models import AttendanceGapPublic
from ingest_api.problems import Problem

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


def _read_gap(
    session: SessionDep, level: str, unit_id: str, academic_year: str | None
) -> AttendanceGapPublic | None:
    row = crud.attendance_gap(session, level=level, unit_id=unit_id, academic_year=academic_year)
    return None if row is None else AttendanceGapPublic.from_row(row)


def _gap(
    session: SessionDep,
    access: AccessDep,
    cache: CacheDep,
    unit: tuple[str, str],
    academic_year: str | None,
) -> AttendanceGapPublic:
    level, unit_id = unit
    check_year(academic_year)
    require_unit(access, session, level=level, unit_id=unit_id, cache=cache)
    gap = cache.get(
        ("attendance-gap", level, unit_id, academic_year),
        lambda: _read_gap(session, level, unit_id, academic_year),
    )
    if gap is None:
        years = crud.years_available(session, level=level, unit_id=unit_id)
        detail = f"no attendance data for {level} {unit_id!r}" + (
            f" in {academic_year}; years with data: {', '.join(years)}" if years else " yet"
        )
        raise Problem(404, "No data", detail, years_available=years)
    return gap


@router.get("/trust/attendance-gap", response_model=AttendanceGapPublic)
def trust_attendance_gap(
    session: SessionDep, access: AccessDep, cache: CacheDep, academic_year: YearQuery = None
) -> AttendanceGapPublic:
    """Trust-wide attendance of disadvantaged pupils and of others, and the gap."""
    unit = ("trust", trust_id(session, cache))
    return _gap(session, access, cache, unit, academic_year)


@router.get("/hubs/{hub_id}/attendance-gap", response_model=AttendanceGapPublic)
def hub_attendance_gap(
    session: SessionDep,
    access: AccessDep,
    cache: CacheDep,
    hub_id: HubIdPath,
    academic_year: YearQuery = None,
) -> AttendanceGapPublic:
    """A hub's attendance of disadvantaged pupils and of others, and the gap."""
    return _gap(session, access, cache, ("hub", hub_id), academic_year)


@router.get("/academies/{academy_id}/attendance-gap", response_model=AttendanceGapPublic)
def academy_attendance_gap(
    session: SessionDep,
    access: AccessDep,
    cache: CacheDep,
    academy_id: AcademyIdPath,
    academic_year: YearQuery = None,
) -> AttendanceGapPublic:
    """An academy's attendance of disadvantaged pupils and of others, and the gap."""
    return _gap(session, access, cache, ("academy", academy_id), academic_year)
