"""KS2 and KS4 attainment at every level and pupil group, gaps, trends and the gap index."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath, HubIdPath, YearQuery, check_year
from ingest_api.models import AttainmentMeasuresPage, AttainmentMeasuresPublic
from ingest_api.paging import CursorQuery, decode_cursor, encode_cursor, link_next, resolve_year
from ingest_api.problems import Problem
from trustdata.warehouse.tables import trust

router = APIRouter(tags=["attainment"])

KeyStageQuery = Annotated[
    Literal["KS2", "KS4"] | None, Query(description="Only this key stage (default: both)")
]
GroupQuery = Annotated[
    Literal["all", "disadvantage", "fsm6", "sen", "eal", "gender"] | None,
    Query(description="Only this grouping of pupils (default: all groupings)"),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Rows per page")]


def _attainment(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    unit: tuple[str, str],
    filters: tuple[str | None, str | None, str | None],
    cursor: str | None,
    limit: int,
) -> AttainmentMeasuresPage:
    (level, unit_id), (academic_year, key_stage, group_type) = unit, filters
    check_year(academic_year)
    require_unit(access, session, level=level, unit_id=unit_id)
    after = None if cursor is None else decode_cursor(cursor, 3)
    years = crud.attainment_years(session, level=level, unit_id=unit_id)
    year = resolve_year(years, academic_year, what="attainment", level=level, unit_id=unit_id)
    rows = crud.attainment_measures(
        session,
        level=level,
        unit_id=unit_id,
        academic_year=year,
        key_stage=key_stage,
        group_type=group_type,
        after=None if after is None else (after[0], after[1], after[2]),
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = encode_cursor(list(crud.attainment_key(page[-1]))) if len(rows) > limit else None
    link_next(request, response, next_cursor)
    data = [AttainmentMeasuresPublic.from_row(row) for row in page]
    return AttainmentMeasuresPage(data=data, count=len(data), next_cursor=next_cursor)


@router.get("/trust/attainment", response_model=AttainmentMeasuresPage)
def trust_attainment(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    academic_year: YearQuery = None,
    key_stage: KeyStageQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 500,
) -> AttainmentMeasuresPage:
    """The trust's KS2 and KS4 attainment by pupil group, gaps, trends and the gap index."""
    trust_id = session.connection().execute(select(trust.c.trust_id)).scalar_one_or_none()
    if trust_id is None:
        raise Problem(404, "Unknown trust", "the warehouse holds no trust yet: run the pipeline")
    filters = (academic_year, key_stage, group_type)
    return _attainment(
        request, response, session, access, ("trust", trust_id), filters, cursor, limit
    )


@router.get("/hubs/{hub_id}/attainment", response_model=AttainmentMeasuresPage)
def hub_attainment(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    hub_id: HubIdPath,
    academic_year: YearQuery = None,
    key_stage: KeyStageQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 500,
) -> AttainmentMeasuresPage:
    """A hub's KS2 and KS4 attainment by pupil group, gaps, trends and the gap index."""
    filters = (academic_year, key_stage, group_type)
    return _attainment(request, response, session, access, ("hub", hub_id), filters, cursor, limit)


@router.get("/academies/{academy_id}/attainment", response_model=AttainmentMeasuresPage)
def academy_attainment(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    academy_id: AcademyIdPath,
    academic_year: YearQuery = None,
    key_stage: KeyStageQuery = None,
    group_type: GroupQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 500,
) -> AttainmentMeasuresPage:
    """An academy's KS2 or KS4 attainment by pupil group, gaps, trends and the gap index."""
    filters = (academic_year, key_stage, group_type)
    return _attainment(
        request, response, session, access, ("academy", academy_id), filters, cursor, limit
    )
