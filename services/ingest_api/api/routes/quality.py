"""Data quality per academy and feed: what the latest audit found, and what waits in quarantine."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep, require_unit
from ingest_api.api.routes.attendance import AcademyIdPath
from ingest_api.models import QualityPublic

router = APIRouter(tags=["quality"])


@router.get("/quality", response_model=QualityPublic)
def trust_quality(session: SessionDep, access: AccessDep) -> QualityPublic:
    """Every academy's feeds: the latest batch's audit outcome and the checks it failed."""
    data = [
        f for f in crud.quality(session, academy_id=None) if access.sees("academy", f.academy_id)
    ]
    return QualityPublic(data=data, count=len(data))


@router.get("/academies/{academy_id}/quality", response_model=QualityPublic)
def academy_quality(
    session: SessionDep, access: AccessDep, academy_id: AcademyIdPath
) -> QualityPublic:
    """One academy's feeds: failing checks with counts and example MIS pupil ids to look up.

    ``waiting_release`` counts quarantined rows of any batch that have not been released yet
    (``trustdata release``), for example marks of a pupil the roll did not hold.
    """
    require_unit(access, session, level="academy", unit_id=academy_id)
    data = crud.quality(session, academy_id=academy_id)
    return QualityPublic(data=data, count=len(data))
