"""Pupil-level records, behind the ``pupils`` scope; every read and refusal is logged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ingest_api import crud
from ingest_api.api.deps import AccessDep, EngineDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath, YearQuery, check_year
from ingest_api.models import PupilAttendancePublic, PupilsPublic
from ingest_api.paging import link_next, resolve_year
from ingest_api.problems import Problem
from trustdata.access.clients import record_pupil_read
from trustdata.access.scopes import Access

router = APIRouter(tags=["pupils"])

CursorQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9a-f]{32}$",
        description="next_cursor of the previous page; leave out for the first page",
    ),
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Records per page")]


def _log(
    request: Request, engine: EngineDep, access: Access, academy_id: str, records: int, status: int
) -> None:
    record_pupil_read(
        engine,
        client_id=access.client_id,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        academy_id=academy_id,
        records=records,
        status=status,
    )


@router.get("/academies/{academy_id}/pupils", response_model=PupilsPublic)
def academy_pupils(
    request: Request,
    response: Response,
    session: SessionDep,
    engine: EngineDep,
    access: AccessDep,
    academy_id: AcademyIdPath,
    academic_year: YearQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> PupilsPublic:
    """Each pupil's enrolment at the academy in a year: sessions, absence and characteristics.

    Pages follow ``next_cursor`` (also in a ``Link: <...>; rel="next"`` header, which CSV
    clients can follow). Needs the ``pupils`` scope and a scope covering the academy. Every read (and every refusal)
    is written to the access log with the client, path, query and number of records.
    """
    try:
        require_unit(access, session, level="academy", unit_id=academy_id)
        if not access.sees_pupils(academy_id):
            raise Problem(
                403,
                "Pupil-level data needs the pupils scope",
                f"client {access.client_id!r} may read academy {academy_id!r} aggregates but "
                "not pupil records: its scopes need 'pupils' as well",
            )
    except Problem as problem:
        if problem.status == 403:
            _log(request, engine, access, academy_id, 0, 403)
        raise
    check_year(academic_year)
    years = crud.pupil_years(session, academy_id=academy_id)
    year = resolve_year(
        years, academic_year, what="pupil records", level="academy", unit_id=academy_id
    )
    rows = crud.pupil_attendance(
        session,
        academy_id=academy_id,
        academic_year=year,
        after=cursor,
        limit=limit + 1,
    )
    page = rows[:limit]
    _log(request, engine, access, academy_id, len(page), 200)
    next_cursor = page[-1].record_key if len(rows) > limit else None
    link_next(request, response, next_cursor)
    return PupilsPublic(
        academy_id=academy_id,
        academic_year=year,
        data=[PupilAttendancePublic.from_row(row) for row in page],
        count=len(page),
        next_cursor=next_cursor,
    )
