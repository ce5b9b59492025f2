"""How fresh each academy's feeds are: the last successful publish and the latest run."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api import crud
from ingest_api.api.deps import SessionDep
from ingest_api.api.routes.attendance import IdPath
from ingest_api.models import FreshnessPublic
from ingest_api.problems import Problem

router = APIRouter(tags=["freshness"])


@router.get("/freshness", response_model=FreshnessPublic)
def trust_freshness(session: SessionDep) -> FreshnessPublic:
    """Every academy's feeds: when each last published, and how its latest run ended.

    ``healthy`` is false when a feed's latest run failed or was blocked by the audit;
    ``latest_message`` then says why (counts and codes, never pupil data).
    """
    data = crud.freshness(session, academy_id=None)
    return FreshnessPublic(data=data, count=len(data))


@router.get("/academies/{academy_id}/freshness", response_model=FreshnessPublic)
def academy_freshness(session: SessionDep, academy_id: IdPath) -> FreshnessPublic:
    """One academy's feeds: when each last published, and how its latest run ended."""
    if not crud.unit_exists(session, level="academy", unit_id=academy_id):
        raise Problem(404, "Unknown academy", f"no academy with id {academy_id!r} in the trust")
    data = crud.freshness(session, academy_id=academy_id)
    return FreshnessPublic(data=data, count=len(data))
