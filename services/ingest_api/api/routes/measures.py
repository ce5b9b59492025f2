"""Attendance measures at every level, period and pupil group, with gaps and trends."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath, HubIdPath, YearQuery, check_year
from ingest_api.models import AttendanceMeasuresPage, AttendanceMeasuresPublic
from ingest_api.paging import (
    CursorQuery,
    bad_cursor,
    decode_cursor,
    encode_cursor,
    link_next,
    resolve_year,
)
from ingest_api.problems import Problem
from trustdata.warehouse.tables import trust

router = APIRouter(tags=["attendance"])

PeriodTypeQuery = Annotated[
    Literal["academic_year", "term", "half_term", "week", "year_to_date"] | None,
    Query(description="Only this kind of period (default: all)", examples=["term"]),
]
PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="Only this period, e.g. autumn, spring_1, 2025-09-08 (a week's Monday)",
        examples=["autumn"],
    ),
]
GroupQuery = Annotated[
    Literal["all", "disadvantage", "fsm6", "sen", "eal", "gender", "year_group"] | None,
    Query(description="Only this grouping of pupils (default: all groupings)"),
]
LimitQuery = Annotated[int, Query(ge=1, le=5000, description="Rows per page")]


def _decode(cursor: str) -> crud.MeasuresKey:
    period_type, start, period, group_type, group_value = decode_cursor(cursor, 5)
    try:
        return (period_type, date.fromisoformat(start), period, group_type, group_value)
    except ValueError as exc:
        raise bad_cursor() from exc


def _measures(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    level: str,
    unit_id: str,
    filters: tuple[str | None, str | None, str | None, str | None],
    cursor: str | None,
    limit: int,
) -> AttendanceMeasuresPage:
    academic_year, period_type, period, group_type = filters
    check_year(academic_year)
    require_unit(access, session, level=level, unit_id=unit_id)
    after = None if cursor is None else _decode(cursor)
    years = crud.measure_years(session, level=level, unit_id=unit_id)
    year = resolve_year(
        years, academic_year, what="attendance measures", level=level, unit_id=unit_id
    )
    rows = crud.attendance_measures(
        session,
        level=level,
        unit_id=unit_id,
        academic_year=year,
        period_type=period_type,
        period=period,
        group_type=group_type,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        key = crud.measures_key(page[-1])
        next_cursor = encode_cursor([key[0], key[1].isoformat(), *key[2:]])
    link_next(request, response, next_cursor)
    data = [AttendanceMeasuresPublic.from_row(row) for row in page]
    return AttendanceMeasuresPage(data=data, count=len(data), next_cursor=next_cursor)


@router.get("/trust/attendance", response_model=AttendanceMeasuresPage)
def trust_attendance(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    academic_year: YearQuery = None,
    period_type: PeriodTypeQuery = None,
    period: PeriodQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 1000,
) -> AttendanceMeasuresPage:
    """The trust's attendance measures by period and pupil group, with gaps and trends."""
    trust_id = session.connection().execute(select(trust.c.trust_id)).scalar_one_or_none()
    if trust_id is None:
        raise Problem(404, "Unknown trust", "the warehouse holds no trust yet: run the pipeline")
    filters = (academic_year, period_type, period, group_type)
    return _measures(request, response, session, access, "trust", trust_id, filters, cursor, limit)


@router.get("/hubs/{hub_id}/attendance", response_model=AttendanceMeasuresPage)
def hub_attendance(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    hub_id: HubIdPath,
    academic_year: YearQuery = None,
    period_type: PeriodTypeQuery = None,
    period: PeriodQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 1000,
) -> AttendanceMeasuresPage:
    """A hub's attendance measures by period and pupil group, with gaps and trends."""
    filters = (academic_year, period_type, period, group_type)
    return _measures(request, response, session, access, "hub", hub_id, filters, cursor, limit)


@router.get("/academies/{academy_id}/attendance", response_model=AttendanceMeasuresPage)
def academy_attendance(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    academy_id: AcademyIdPath,
    academic_year: YearQuery = None,
    period_type: PeriodTypeQuery = None,
    period: PeriodQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 1000,
) -> AttendanceMeasuresPage:
    """An academy's attendance measures by period and pupil group, with gaps and trends."""
    filters = (academic_year, period_type, period, group_type)
    return _measures(
        request, response, session, access, "academy", academy_id, filters, cursor, limit
    )
