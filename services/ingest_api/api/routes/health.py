"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from ingest_api.api.deps import SessionDep
from ingest_api.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
def ready(session: SessionDep) -> dict[str, str]:
    """The warehouse answers and the marts have been built."""
    built = (
        session.connection()
        .execute(text("SELECT to_regclass('marts.mart_attendance_gap') IS NOT NULL"))
        .scalar_one()
    )
    if not built:
        raise Problem(
            503, "Not ready", "the marts have not been built yet: run the warehouse build"
        )
    return {"status": "ready"}
