"""The API's database engine: the same warehouse the pipeline publishes to."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine

from trustdata.warehouse.engine import get_engine, warehouse_url


@cache
def engine() -> Engine:
    """Return the warehouse engine (the embedded PostgreSQL when none is configured)."""
    return get_engine(warehouse_url())
