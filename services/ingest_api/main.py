"""The FastAPI application: ``uvicorn ingest_api.main:app``."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from ingest_api import metrics, problems
from ingest_api.api.main import api_router
from ingest_api.api.routes import health
from ingest_api.core.authcache import AuthCache, start_listener
from ingest_api.core.cache import TtlCache
from ingest_api.core.db import write_engine
from ingest_api.core.ratelimit import RateLimiter
from ingest_api.representation import RepresentationMiddleware
from trustdata.config.settings import Settings, get_settings
from trustdata.config.trust import load_trust_config
from trustdata.orchestration.outbox import AirflowApi, run_relay
from trustdata.warehouse.engine import psycopg_conninfo, warehouse_url

log = logging.getLogger(__name__)


def _relay(settings: Settings) -> tuple[threading.Thread, threading.Event, AirflowApi] | None:
    """Start the outbox relay to Airflow in the background, when Airflow's API is configured."""
    api = AirflowApi.from_settings(settings)
    if api is None:
        log.info("TRUSTDATA_AIRFLOW_API_URL unset: MIS events are stored, not relayed")
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=run_relay,
        args=(write_engine(), api),
        kwargs={
            "interval": settings.relay_interval_seconds,
            "max_backoff": timedelta(seconds=settings.relay_max_backoff_seconds),
            "stop": stop,
        },
        name="mis-event-relay",
        daemon=True,
    )
    thread.start()
    return thread, stop, api


def create_app(trust_config: Path | None = None, *, relay: bool = True) -> FastAPI:
    """Build the application over the trust config (default: ``TRUSTDATA_TRUST_CONFIG``).

    With ``relay`` and ``TRUSTDATA_AIRFLOW_API_URL`` set, the app also relays stored MIS events
    to Airflow while it runs.
    """
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = _relay(settings) if relay else None
        stop_listening = start_listener(app.state.auth_cache, psycopg_conninfo(warehouse_url()))
        try:
            yield
        finally:
            stop_listening()
            if running is not None:
                thread, stop, api = running
                stop.set()
                thread.join(timeout=30)
                api.close()

    app = FastAPI(
        title="trustdata read API",
        version="1.0.0",
        description=(
            "Attendance of disadvantaged pupils and their peers, and the gap between them, for "
            "each academy, hub and the trust, from the trust's warehouse; and the intake for "
            "MIS events."
        ),
        lifespan=lifespan,
    )
    app.state.trust = load_trust_config(trust_config or settings.trust_config)
    app.state.rate_limiter = RateLimiter(settings.api_rate_limit_per_minute)
    app.state.cache = TtlCache(settings.api_cache_seconds)
    # Trusted only while its listener (started with the app) holds a LISTEN on the warehouse.
    app.state.auth_cache = AuthCache()
    problems.install(app)
    app.add_middleware(RepresentationMiddleware)
    app.add_middleware(metrics.MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(api_router, prefix="/api/v1")
    return app


app = create_app()
