"""KS2 and KS4 attainment at every level and pupil group, gaps, trends and the gap index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from ingest_api import crud
from ingest_api.api.deps import ReadContext, ReadDep, SessionDep, require_unit, trust_id
from ingest_api.api.routes.attendance import AcademyIdPath, HubIdPath, YearQuery, check_year
from ingest_api.models import AttainmentMeasuresPage, AttainmentMeasuresPublic
from ingest_api.paging import CursorQuery, decode_cursor, encode_cursor, link_next, resolve_year

router = APIRouter(tags=["attainment"])

KeyStageQuery = Annotated[
    Literal["KS2", "KS4"] | None, Query(description="Only this key stage (default: both)")
]
GroupQuery = Annotated[
    Literal["all", "disadvantage", "fsm6", "sen", "eal", "gender"] | None,
    Query(description="Only this grouping of pupils (default: all groupings)"),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Rows per page")]


def _read_page(
    session: SessionDep,
    unit: tuple[str, str],
    year: str,
    filters: tuple[str | None, str | None],
    after: tuple[str, str, str] | None,
    limit: int,
) -> AttainmentMeasuresPage:
    (level, unit_id), (key_stage, group_type) = unit, filters
    rows = crud.attainment_measures(
        session,
        level=level,
        unit_id=unit_id,
        academic_year=year,
        key_stage=key_stage,
        group_type=group_type,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = encode_cursor(list(crud.attainment_key(page[-1]))) if len(rows) > limit else None
    data = [AttainmentMeasuresPublic.from_row(row) for row in page]
    return AttainmentMeasuresPage(data=data, count=len(data), next_cursor=next_cursor)


@dataclass(frozen=True)
class AttainmentFilters:
    """The query parameters of an attainment read."""

    academic_year: str | None
    key_stage: str | None
    group_type: str | None
    cursor: str | None
    limit: int


async def attainment_filters(
    academic_year: YearQuery = None,
    key_stage: KeyStageQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 500,
) -> AttainmentFilters:
    """The filters, as FastAPI reads and checks them from the query string."""
    return AttainmentFilters(academic_year, key_stage, group_type, cursor, limit)


FiltersDep = Annotated[AttainmentFilters, Depends(attainment_filters)]


def _attainment(
    read: ReadContext, unit: tuple[str, str], filters: AttainmentFilters
) -> AttainmentMeasuresPage:
    (level, unit_id), session, cache = unit, read.session, read.cache
    key_stage, group_type, limit = filters.key_stage, filters.group_type, filters.limit
    check_year(filters.academic_year)
    require_unit(read.access, session, level=level, unit_id=unit_id, cache=cache)
    key = None if filters.cursor is None else decode_cursor(filters.cursor, 3)
    after = None if key is None else (key[0], key[1], key[2])
    years = cache.get(
        ("attainment-years", level, unit_id),
        lambda: crud.attainment_years(session, level=level, unit_id=unit_id),
    )
    year = resolve_year(
        years, filters.academic_year, what="attainment", level=level, unit_id=unit_id
    )
    page = cache.get(
        ("attainment", unit, year, key_stage, group_type, after, limit),
        lambda: _read_page(session, unit, year, (key_stage, group_type), after, limit),
    )
    link_next(read.request, read.response, page.next_cursor)
    return page


@router.get("/trust/attainment", response_model=AttainmentMeasuresPage)
def trust_attainment(read: ReadDep, filters: FiltersDep) -> AttainmentMeasuresPage:
    """The trust's KS2 and KS4 attainment by pupil group, gaps, trends and the gap index."""
    return _attainment(read, ("trust", trust_id(read.session, read.cache)), filters)


@router.get("/hubs/{hub_id}/attainment", response_model=AttainmentMeasuresPage)
def hub_attainment(read: ReadDep, hub_id: HubIdPath, filters: FiltersDep) -> AttainmentMeasuresPage:
    """A hub's KS2 and KS4 attainment by pupil group, gaps, trends and the gap index."""
    return _attainment(read, ("hub", hub_id), filters)


@router.get("/academies/{academy_id}/attainment", response_model=AttainmentMeasuresPage)
def academy_attainment(
    read: ReadDep, academy_id: AcademyIdPath, filters: FiltersDep
) -> AttainmentMeasuresPage:
    """An academy's KS2 or KS4 attainment by pupil group, gaps, trends and the gap index."""
    return _attainment(read, ("academy", academy_id), filters)
