"""How fresh each academy's feeds are: the last successful publish and the latest run."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath
from ingest_api.models import FreshnessPublic

router = APIRouter(tags=["freshness"])


@router.get("/freshness", response_model=FreshnessPublic)
def trust_freshness(session: SessionDep, access: AccessDep) -> FreshnessPublic:
    """Every academy's feeds: when each last published, and how its latest run ended.

    ``healthy`` is false when a feed's latest run failed or was blocked by the audit;
    ``latest_message`` then says why (counts and codes, never pupil data).
    """
    data = [
        f for f in crud.freshness(session, academy_id=None) if access.sees("academy", f.academy_id)
    ]
    return FreshnessPublic(data=data, count=len(data))


@router.get("/academies/{academy_id}/freshness", response_model=FreshnessPublic)
def academy_freshness(
    session: SessionDep, access: AccessDep, academy_id: AcademyIdPath
) -> FreshnessPublic:
    """One academy's feeds: when each last published, and how its latest run ended."""
    require_unit(access, session, level="academy", unit_id=academy_id)
    data = crud.freshness(session, academy_id=academy_id)
    return FreshnessPublic(data=data, count=len(data))
