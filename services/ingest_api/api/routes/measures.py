"""Attendance measures at every level, period and pupil group, with gaps and trends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from ingest_api import crud
from ingest_api.api.deps import ReadContext, ReadDep, SessionDep, require_unit, trust_id
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


def _read_page(
    session: SessionDep,
    unit: tuple[str, str],
    year: str,
    filters: tuple[str | None, str | None, str | None],
    after: crud.MeasuresKey | None,
    limit: int,
) -> AttendanceMeasuresPage:
    (level, unit_id), (period_type, period, group_type) = unit, filters
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
    data = [AttendanceMeasuresPublic.from_row(row) for row in page]
    return AttendanceMeasuresPage(data=data, count=len(data), next_cursor=next_cursor)


@dataclass(frozen=True)
class MeasureFilters:
    """The query parameters of an attendance measures read."""

    academic_year: str | None
    period_type: str | None
    period: str | None
    group_type: str | None
    cursor: str | None
    limit: int


async def measure_filters(
    academic_year: YearQuery = None,
    period_type: PeriodTypeQuery = None,
    period: PeriodQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 1000,
) -> MeasureFilters:
    """The filters, as FastAPI reads and checks them from the query string."""
    return MeasureFilters(academic_year, period_type, period, group_type, cursor, limit)


FiltersDep = Annotated[MeasureFilters, Depends(measure_filters)]


def _measures(
    read: ReadContext, unit: tuple[str, str], filters: MeasureFilters
) -> AttendanceMeasuresPage:
    (level, unit_id), session, cache, limit = unit, read.session, read.cache, filters.limit
    check_year(filters.academic_year)
    require_unit(read.access, session, level=level, unit_id=unit_id, cache=cache)
    after = None if filters.cursor is None else _decode(filters.cursor)
    years = cache.get(
        ("measure-years", level, unit_id),
        lambda: crud.measure_years(session, level=level, unit_id=unit_id),
    )
    year = resolve_year(
        years, filters.academic_year, what="attendance measures", level=level, unit_id=unit_id
    )
    narrower = (filters.period_type, filters.period, filters.group_type)
    page = cache.get(
        ("measures", unit, year, narrower, after, limit),
        lambda: _read_page(session, unit, year, narrower, after, limit),
    )
    link_next(read.request, read.response, page.next_cursor)
    return page


@router.get("/trust/attendance", response_model=AttendanceMeasuresPage)
def trust_attendance(read: ReadDep, filters: FiltersDep) -> AttendanceMeasuresPage:
    """The trust's attendance measures by period and pupil group, with gaps and trends."""
    return _measures(read, ("trust", trust_id(read.session, read.cache)), filters)


@router.get("/hubs/{hub_id}/attendance", response_model=AttendanceMeasuresPage)
def hub_attendance(read: ReadDep, hub_id: HubIdPath, filters: FiltersDep) -> AttendanceMeasuresPage:
    """A hub's attendance measures by period and pupil group, with gaps and trends."""
    return _measures(read, ("hub", hub_id), filters)


@router.get("/academies/{academy_id}/attendance", response_model=AttendanceMeasuresPage)
def academy_attendance(
    read: ReadDep, academy_id: AcademyIdPath, filters: FiltersDep
) -> AttendanceMeasuresPage:
    """An academy's attendance measures by period and pupil group, with gaps and trends."""
    return _measures(read, ("academy", academy_id), filters)
