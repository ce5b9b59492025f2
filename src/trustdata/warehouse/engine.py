"""Resolve the warehouse: the configured PostgreSQL server, or the embedded one."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from trustdata.config.settings import Settings, get_settings
from trustdata.warehouse.embedded import ensure_database, socket_url, start_embedded

# Handles of embedded servers this process started; held so they live as long as the process.
_servers: list[Any] = []


def warehouse_url(settings: Settings | None = None) -> str:
    """Return the warehouse URL, starting the embedded PostgreSQL when none is configured.

    After the embedded server starts, ``TRUSTDATA_WAREHOUSE_URL`` is set in this process's
    environment so that child processes (Airflow tasks, dbt, the API) use the same server.
    """
    settings = settings or get_settings()
    if settings.warehouse_url:
        return settings.warehouse_url
    _servers.append(start_embedded(settings.data_dir))
    url = socket_url(settings.data_dir, settings.warehouse_database)
    ensure_database(url)
    os.environ["TRUSTDATA_WAREHOUSE_URL"] = url
    return url


def psycopg_conninfo(url: str) -> str:
    """Turn a SQLAlchemy URL into a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def get_engine(url: str) -> Engine:
    """Return the (cached) SQLAlchemy engine for ``url``."""
    # preserve_rowcount: the pipeline reports how many rows each INSERT ... SELECT moved.
    return create_engine(url, pool_pre_ping=True).execution_options(preserve_rowcount=True)
