"""The API's database engine: the same warehouse the pipeline publishes to."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine, create_engine

from trustdata.warehouse.engine import get_engine, warehouse_url


@cache
def engine() -> Engine:
    """The API's read pool on the warehouse (the embedded PostgreSQL when none is configured).

    Reads are single statements, so they run in autocommit: no BEGIN and ROLLBACK round trips
    around each request. Twenty connections stay open per process (a request thread beyond them
    waits for one), without a ping per checkout (pool_recycle bounds a connection's age).
    Writes go through ``write_engine``.
    """
    return create_engine(
        warehouse_url(),
        # Connections kept open: an overflow connection is closed after each use, and opening
        # one (a server process and its authentication) cost more than the request itself.
        pool_size=20,
        max_overflow=5,
        pool_recycle=600,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
    )


def write_engine() -> Engine:
    """The pipeline's engine, with transactions, for the API's few writes (outbox, log, tokens)."""
    return get_engine(warehouse_url())
