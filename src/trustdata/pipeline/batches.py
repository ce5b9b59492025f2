"""Batch bookkeeping in ``meta.batches`` and the per-(academy, stream) watermark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

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


#: How a failed publish is recorded: status ``failed``, message starting with this. The publish
#: was rolled back, so its staged rows are intact: a retry of the task may publish the batch,
#: until a newer landing of the stream discards it.
PUBLISH_FAILED = "publish failed"


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
    cursor_after: str | None
    cursor_before: str | None = None
    backfill_from: date | None = None
    backfill_to: date | None = None
    started_at: datetime | None = None
    message: str | None = None
    rows_quarantined: int = 0

    @property
    def publishable(self) -> bool:
        """True for an audited batch, or one whose publish failed and was rolled back."""
        return self.status == BatchStatus.AUDITED or (
            self.status == BatchStatus.FAILED and (self.message or "").startswith(PUBLISH_FAILED)
        )

    @property
    def is_backfill(self) -> bool:
        """True for a backfill of past dates: it must not move the incremental watermark."""
        return self.backfill_from is not None

    @property
    def is_full(self) -> bool:
        """True for a full extract (neither ``updated_after`` nor a change-log cursor to read
        after): it must hold the whole roll."""
        return self.updated_after is None and self.cursor_before is None


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
        batches.c.cursor_after,
        batches.c.cursor_before,
        batches.c.backfill_from,
        batches.c.backfill_to,
        batches.c.started_at,
        batches.c.message,
        batches.c.rows_quarantined,
    ).where(batches.c.batch_id == batch_id)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise LookupError(f"no batch {batch_id} in meta.batches")
    return Batch(*row)


def unpublished() -> ColumnElement[bool]:
    """Batches still waiting to publish: landing, landed, audited, blocked, or failed at publish."""
    waiting = (BatchStatus.LANDING, BatchStatus.LANDED, BatchStatus.AUDITED, BatchStatus.BLOCKED)
    return or_(batches.c.status.in_(waiting), unpublished_failure())


def record_publish_failure(conn: Connection, batch_id: uuid.UUID, exc: Exception) -> str:
    """Record a rolled-back publish on its batch: ``failed``, with the reason; return the reason.

    A database error is named by class and SQLSTATE only: PostgreSQL's message and DETAIL can
    quote the failing row. Only a batch that was publishable moves (a publish refused for the
    batch's state changes nothing).
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, psycopg.Error) and orig.diag.sqlstate:
        why = f"{type(orig).__name__} (SQLSTATE {orig.diag.sqlstate})"
    else:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = f"{PUBLISH_FAILED}: {why}"[:500]
    conn.execute(
        update(batches)
        .where(
            batches.c.batch_id == batch_id,
            or_(batches.c.status == BatchStatus.AUDITED, unpublished_failure()),
        )
        .values(status=BatchStatus.FAILED, message=reason)
    )
    return reason


def unpublished_failure() -> ColumnElement[bool]:
    """Batches whose publish failed and was rolled back (they may be published again)."""
    return and_(
        batches.c.status == BatchStatus.FAILED, batches.c.message.startswith(PUBLISH_FAILED)
    )


def set_status(conn: Connection, batch_id: uuid.UUID, status: str, **values: Any) -> None:
    """Move a batch to ``status``, recording any counts or message given."""
    conn.execute(
        update(batches).where(batches.c.batch_id == batch_id).values(status=status, **values)
    )


@dataclass(frozen=True, slots=True)
class Position:
    """Where the last published batch of (academy, stream) left the source's history."""

    watermark: datetime | None = None
    cursor: str | None = None


def read_position(conn: Connection, academy_id: str, stream: str, source: str) -> Position:
    """Return the last published position of (academy, stream) in ``source``.

    Empty before the first publish, and empty when it came from another source (the academy
    changed MIS or school id): the next sync is then a full pull.
    """
    row = conn.execute(
        select(watermarks.c.watermark, watermarks.c.cursor, watermarks.c.source).where(
            watermarks.c.academy_id == academy_id, watermarks.c.stream == stream
        )
    ).one_or_none()
    if row is None or row.source not in (None, source):
        return Position()
    return Position(row.watermark, row.cursor)


def advance_watermark(conn: Connection, batch: Batch) -> None:
    """Move the stored position to the batch's, inside the publishing transaction.

    Within one source the timestamp never moves back and a batch without a cursor keeps the
    stored one; a batch from a new source replaces both.
    """
    statement = insert(watermarks).values(
        academy_id=batch.academy_id,
        stream=batch.stream,
        watermark=batch.watermark_after,
        cursor=batch.cursor_after,
        source=batch.source,
        batch_id=batch.batch_id,
    )
    stored, new = watermarks.c, statement.excluded
    same_source = stored.source.is_not_distinct_from(new.source)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[stored.academy_id, stored.stream],
            set_={
                "watermark": case(
                    (same_source, func.greatest(stored.watermark, new.watermark)),
                    else_=new.watermark,
                ),
                "cursor": case(
                    (same_source, func.coalesce(new.cursor, stored.cursor)), else_=new.cursor
                ),
                "source": new.source,
                "batch_id": batch.batch_id,
                "updated_at": func.now(),
            },
        )
    )
