"""The versioned API router."""

from __future__ import annotations

from fastapi import APIRouter

from ingest_api.api.routes import academies, attendance, events, freshness, pupils, quality, token

api_router = APIRouter()
api_router.include_router(academies.router)
api_router.include_router(attendance.router)
api_router.include_router(freshness.router)
api_router.include_router(quality.router)
api_router.include_router(pupils.router)
api_router.include_router(events.router)
api_router.include_router(token.router)
