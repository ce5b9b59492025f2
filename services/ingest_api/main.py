"""The FastAPI application: ``uvicorn ingest_api.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from ingest_api import problems
from ingest_api.api.main import api_router
from ingest_api.api.routes import health


def create_app() -> FastAPI:
    """Build the application."""
    app = FastAPI(
        title="trustdata read API",
        version="1.0.0",
        description=(
            "Attendance of disadvantaged pupils and their peers, and the gap between them, for "
            "each academy, hub and the trust, from the trust's warehouse."
        ),
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(api_router, prefix="/api/v1")
    return app


app = create_app()
