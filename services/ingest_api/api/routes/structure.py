"""The trust, its hubs and academies, and each academy's run history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath, HubIdPath
from ingest_api.models import AcademyPublic, HubPublic, HubsPublic, RunsPage, TrustPublic
from ingest_api.paging import bad_cursor, decode_cursor, encode_cursor, link_next
from ingest_api.problems import Problem
from trustdata.adapters.base import Stream
from trustdata.warehouse.tables import trust

router = APIRouter(tags=["structure"])


@router.get("/trust", response_model=TrustPublic)
def get_trust(session: SessionDep, access: AccessDep) -> TrustPublic:
    """The trust with every hub and academy (needs the trust scope)."""
    row = session.connection().execute(select(trust.c.trust_id, trust.c.name)).first()
    if row is None:
        raise Problem(404, "Unknown trust", "the warehouse holds no trust yet: run the pipeline")
    require_unit(access, session, level="trust", unit_id=row.trust_id)
    return TrustPublic(id=row.trust_id, name=row.name, hubs=crud.hubs(session))


@router.get("/hubs", response_model=HubsPublic)
def list_hubs(session: SessionDep, access: AccessDep) -> HubsPublic:
    """The hubs the client's scopes cover, each with its academies."""
    data = [hub for hub in crud.hubs(session) if access.sees("hub", hub.id)]
    return HubsPublic(data=data, count=len(data))


@router.get("/hubs/{hub_id}", response_model=HubPublic)
def get_hub(session: SessionDep, access: AccessDep, hub_id: HubIdPath) -> HubPublic:
    """One hub and its academies."""
    require_unit(access, session, level="hub", unit_id=hub_id)
    return next(hub for hub in crud.hubs(session) if hub.id == hub_id)


@router.get("/academies/{academy_id}", response_model=AcademyPublic)
def get_academy(session: SessionDep, access: AccessDep, academy_id: AcademyIdPath) -> AcademyPublic:
    """One academy: URN, phase and hub."""
    require_unit(access, session, level="academy", unit_id=academy_id)
    return next(a for a in crud.list_academies(session) if a.id == academy_id)


def _before(cursor: str) -> tuple[datetime, uuid.UUID]:
    started, batch_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(started), uuid.UUID(batch_id)
    except ValueError as exc:
        raise bad_cursor() from exc


@router.get("/academies/{academy_id}/runs", response_model=RunsPage)
def academy_runs(
    request: Request,
    response: Response,
    session: SessionDep,
    access: AccessDep,
    academy_id: AcademyIdPath,
    stream: Annotated[Stream | None, Query(description="Only this feed")] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunsPage:
    """The academy's runs, newest first: counts, watermarks, duration and outcome."""
    require_unit(access, session, level="academy", unit_id=academy_id)
    before = None if cursor is None else _before(cursor)
    rows = crud.runs(
        session,
        academy_id=academy_id,
        stream=None if stream is None else stream.value,
        before=before,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor([page[-1].started_at.isoformat(), page[-1].batch_id])
    link_next(request, response, next_cursor)
    return RunsPage(academy_id=academy_id, data=page, count=len(page), next_cursor=next_cursor)
