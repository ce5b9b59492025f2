"""The trust's academies."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api import crud
from ingest_api.api.deps import SessionDep
from ingest_api.models import AcademiesPublic

router = APIRouter(tags=["academies"])


@router.get("/academies", response_model=AcademiesPublic)
def list_academies(session: SessionDep) -> AcademiesPublic:
    """Every academy in the trust, with its URN, phase and hub."""
    data = crud.list_academies(session)
    return AcademiesPublic(data=data, count=len(data))
