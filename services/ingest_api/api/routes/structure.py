"""The trust, its hubs and academies, and each academy's run history."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath, HubIdPath
from ingest_api.models import AcademyPublic, HubPublic, HubsPublic, RunsPage, TrustPublic
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


def _cursor(run_started: datetime, batch_id: str) -> str:
    text = f"{run_started.isoformat()}|{batch_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _before(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started, batch_id = text.split("|")
        return datetime.fromisoformat(started), uuid.UUID(batch_id)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise Problem(
            422,
            "Invalid request parameters",
            "cursor: not a cursor this API gave; pass next_cursor from the previous page, or "
            "leave it out to start again",
        ) from exc


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
    next_cursor = _cursor(page[-1].started_at, page[-1].batch_id) if len(rows) > limit else None
    if next_cursor is not None:
        following = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return RunsPage(academy_id=academy_id, data=page, count=len(page), next_cursor=next_cursor)
