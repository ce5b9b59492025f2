"""The trust's academies."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api import crud
from ingest_api.api.deps import AccessDep, SessionDep
from ingest_api.models import AcademiesPublic

router = APIRouter(tags=["academies"])


@router.get("/academies", response_model=AcademiesPublic)
def list_academies(session: SessionDep, access: AccessDep) -> AcademiesPublic:
    """The academies the client's scopes cover, with URN, phase and hub."""
    data = [a for a in crud.list_academies(session) if access.sees("academy", a.id)]
    return AcademiesPublic(data=data, count=len(data))
