"""Batch bookkeeping in ``meta.batches`` and the per-(academy, stream) watermark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from trustdata.warehouse.tables import batches, watermarks


class BatchStatus:
    """The states a batch moves through (a str constant each, as stored)."""

    LANDING = "landing"
    LANDED = "landed"
    AUDITED = "audited"
    BLOCKED = "blocked"
    PUBLISHED = "published"
    FAILED = "failed"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class Batch:
    """One landed extract of one academy's stream."""

    batch_id: uuid.UUID
    academy_id: str
    stream: str
    status: str
    rows_landed: int
    watermark_after: datetime | None
    updated_after: datetime | None
    source: str | None

    @property
    def is_full(self) -> bool:
        """True for a full extract (no ``updated_after``): it must hold the whole roll."""
        return self.updated_after is None


def get_batch(conn: Connection, batch_id: uuid.UUID, *, lock: bool = False) -> Batch:
    """Read a batch row; ``lock`` takes a row lock so two publishers cannot race."""
    query = select(
        batches.c.batch_id,
        batches.c.academy_id,
        batches.c.stream,
        batches.c.status,
        batches.c.rows_landed,
        batches.c.watermark_after,
        batches.c.updated_after,
        batches.c.source,
    ).where(batches.c.batch_id == batch_id)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise LookupError(f"no batch {batch_id} in meta.batches")
    return Batch(*row)


def set_status(conn: Connection, batch_id: uuid.UUID, status: str, **values: Any) -> None:
    """Move a batch to ``status``, recording any counts or message given."""
    conn.execute(
        update(batches).where(batches.c.batch_id == batch_id).values(status=status, **values)
    )


def read_watermark(conn: Connection, academy_id: str, stream: str, source: str) -> datetime | None:
    """Return the last published watermark of (academy, stream) from ``source``.

    None before the first publish, and None when the watermark came from another source (the
    academy changed MIS or school id): the next sync is then a full pull.
    """
    row = conn.execute(
        select(watermarks.c.watermark, watermarks.c.source).where(
            watermarks.c.academy_id == academy_id, watermarks.c.stream == stream
        )
    ).one_or_none()
    if row is None or row.source not in (None, source):
        return None
    watermark: datetime = row.watermark
    return watermark


def advance_watermark(conn: Connection, batch: Batch) -> None:
    """Move the batch's watermark forward, inside the publishing transaction.

    It never moves back within one source; a batch from a new source replaces it.
    """
    statement = insert(watermarks).values(
        academy_id=batch.academy_id,
        stream=batch.stream,
        watermark=batch.watermark_after,
        source=batch.source,
        batch_id=batch.batch_id,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[watermarks.c.academy_id, watermarks.c.stream],
            set_={
                "watermark": statement.excluded.watermark,
                "source": statement.excluded.source,
                "batch_id": batch.batch_id,
                "updated_at": func.now(),
            },
            where=or_(
                watermarks.c.watermark < statement.excluded.watermark,
                watermarks.c.source.is_distinct_from(statement.excluded.source),
            ),
        )
    )
