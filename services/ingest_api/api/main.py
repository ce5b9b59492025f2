"""The versioned API router."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ingest_api.api.routes import (
    academies,
    attainment,
    attendance,
    events,
    freshness,
    measures,
    pupils,
    quality,
    structure,
    token,
)
from ingest_api.representation import negotiate

api_router = APIRouter()
# Data routes answer in JSON or CSV (and with ETags: ingest_api.representation).
for data in (structure, academies, attendance, measures, attainment, freshness, quality, pupils):
    api_router.include_router(data.router, dependencies=[Depends(negotiate)])
api_router.include_router(events.router)
api_router.include_router(token.router)
