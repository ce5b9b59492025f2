"""Publish: move an audited batch from staging into the raw tables, in one transaction.

The watermark advances in the same transaction, so a failure anywhere leaves neither rows nor
watermark half-moved. Publishing is idempotent: upserts change a row only when the source sent
something different and newer, and a batch already published is a no-op. A mark replaced by a
different code is kept in ``raw.attendance_marks_superseded`` for audit.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Subquery,
    Table,
    and_,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from trustdata.adapters.base import Stream
from trustdata.pipeline.batches import BatchStatus, advance_watermark, get_batch, set_status
from trustdata.pipeline.deletions import (
    apply_deletions,
    publish_deletions,
    remove_deleted_marks,
)
from trustdata.pipeline.streams import PUPIL_KEYED, PupilKeyedStream
from trustdata.warehouse.tables import (
    attendance_landing,
    attendance_marks,
    attendance_marks_superseded,
    pupils,
    pupils_landing,
    whole_sets_landing,
)

log = logging.getLogger(__name__)

_PUPIL_DATA = [
    c.name for c in pupils_landing.columns if c.name not in ("batch_id", "academy_id", "upn")
]
_MARK_KEY = ("academy_id", "upn", "mark_date", "session")
_MARK_DATA = ["code", "source_code", "mis_mark_id", "source_updated_at"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What publishing a batch changed."""

    batch_id: uuid.UUID
    status: str
    rows_published: int
    watermark: datetime | None


class BatchBlocked(Exception):
    """The batch failed an error-severity check and may not be published."""


def _newer_and_different(
    target: Table, excluded: ReadOnlyColumnCollection[str, Any], columns: list[str]
) -> ColumnElement[bool]:
    """Upsert guard: the incoming row differs and is not older than the stored one."""
    changed = or_(*(target.c[c].is_distinct_from(excluded[c]) for c in columns))
    newer = or_(
        target.c.source_updated_at.is_(None),
        excluded["source_updated_at"] >= target.c.source_updated_at,
    )
    return and_(changed, newer)


def _publish_pupils(conn: Connection, batch_id: uuid.UUID) -> int:
    latest = (
        select(
            pupils_landing.c.academy_id,
            pupils_landing.c.upn,
            *(pupils_landing.c[c] for c in _PUPIL_DATA),
            literal(batch_id).label("batch_id"),
        )
        .where(pupils_landing.c.batch_id == batch_id)
        .distinct(pupils_landing.c.upn)
        .order_by(pupils_landing.c.upn, pupils_landing.c.source_updated_at.desc().nulls_last())
    )
    statement = insert(pupils).from_select(["academy_id", "upn", *_PUPIL_DATA, "batch_id"], latest)
    statement = statement.on_conflict_do_update(
        index_elements=[pupils.c.academy_id, pupils.c.upn],
        set_={
            **{c: statement.excluded[c] for c in _PUPIL_DATA},
            "batch_id": batch_id,
            "published_at": func.now(),
        },
        where=_newer_and_different(pupils, statement.excluded, _PUPIL_DATA),
    )
    return int(conn.execute(statement).rowcount or 0)


def _resolved_marks(batch_id: uuid.UUID) -> Subquery:
    """Staged marks with the pupil's UPN in place of the MIS id, latest per key."""
    staged = attendance_landing.c
    return (
        select(
            staged.academy_id,
            pupils.c.upn,
            staged.mark_date,
            staged.session,
            staged.code,
            staged.source_code,
            staged.mis_mark_id,
            staged.source_updated_at,
        )
        .join(
            pupils,
            and_(pupils.c.academy_id == staged.academy_id, pupils.c.mis_id == staged.mis_pupil_id),
        )
        .where(staged.batch_id == batch_id)
        .distinct(pupils.c.upn, staged.mark_date, staged.session)
        .order_by(
            pupils.c.upn,
            staged.mark_date,
            staged.session,
            staged.source_updated_at.desc().nulls_last(),
        )
        .subquery("incoming")
    )


def _keep_superseded(conn: Connection, incoming: Subquery, batch_id: uuid.UUID) -> None:
    """Copy each stored mark that the batch replaces with a different code."""
    stored = attendance_marks.c
    kept = [c.name for c in attendance_marks.columns]
    replaced = (
        select(*(stored[c] for c in kept), literal(batch_id).label("superseded_by_batch_id"))
        .join(incoming, and_(*(stored[c] == incoming.c[c] for c in _MARK_KEY)))
        .where(
            stored.code.is_distinct_from(incoming.c.code),
            or_(
                stored.source_updated_at.is_(None),
                incoming.c.source_updated_at >= stored.source_updated_at,
            ),
        )
    )
    conn.execute(
        attendance_marks_superseded.insert().from_select(
            [*kept, "superseded_by_batch_id"], replaced
        )
    )


def _publish_marks(conn: Connection, batch_id: uuid.UUID) -> int:
    incoming = _resolved_marks(batch_id)
    _keep_superseded(conn, incoming, batch_id)
    columns = [*_MARK_KEY, *_MARK_DATA]
    statement = insert(attendance_marks).from_select(
        [*columns, "batch_id"],
        select(*(incoming.c[c] for c in columns), literal(batch_id).label("batch_id")),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[attendance_marks.c[c] for c in _MARK_KEY],
        set_={
            **{c: statement.excluded[c] for c in _MARK_DATA},
            "batch_id": batch_id,
            "published_at": func.now(),
        },
        where=_newer_and_different(attendance_marks, statement.excluded, _MARK_DATA),
    )
    return int(conn.execute(statement).rowcount or 0)


def _publish_pupil_keyed(conn: Connection, spec: PupilKeyedStream, batch_id: uuid.UUID) -> int:
    """Upsert a batch of a pupil-keyed stream by UPN; withdraw rows a whole set left out."""
    staged = spec.landing.c
    key = ("academy_id", "upn", *spec.key)
    data = [*spec.data, "mis_id", "source_updated_at"]
    incoming = (
        select(
            staged.academy_id,
            pupils.c.upn,
            *(staged[c] for c in spec.key),
            *(staged[c] for c in spec.data),
            staged.mis_pupil_id.label("mis_id"),
            staged.source_updated_at,
        )
        .join(
            pupils,
            and_(pupils.c.academy_id == staged.academy_id, pupils.c.mis_id == staged.mis_pupil_id),
        )
        .where(staged.batch_id == batch_id)
        .distinct(pupils.c.upn, *(staged[c] for c in spec.key))
        .order_by(
            pupils.c.upn,
            *(staged[c] for c in spec.key),
            staged.source_updated_at.desc().nulls_last(),
        )
        .subquery("incoming")
    )
    target = spec.raw
    withdrawn = spec.whole_per is not None
    changed = 0
    if withdrawn:
        changed += _withdraw_left_out(conn, spec, incoming, batch_id)
    statement = insert(target).from_select(
        [*key, *data, "batch_id"],
        select(*(incoming.c[c] for c in (*key, *data)), literal(batch_id).label("batch_id")),
    )
    compared = [*spec.data, "mis_id", *(["withdrawn_at"] if withdrawn else [])]
    statement = statement.on_conflict_do_update(
        index_elements=[target.c[c] for c in key],
        set_={
            **{c: statement.excluded[c] for c in compared},
            "source_updated_at": statement.excluded.source_updated_at,
            "batch_id": batch_id,
            "published_at": func.now(),
        },
        where=_newer_and_different(target, statement.excluded, compared),
    )
    changed += int(conn.execute(statement).rowcount or 0)
    conn.execute(spec.landing.delete().where(staged.batch_id == batch_id))
    return changed


def _withdraw_left_out(
    conn: Connection, spec: PupilKeyedStream, incoming: Subquery, batch_id: uuid.UUID
) -> int:
    """Mark stored rows of each set the batch holds whole, but without them, as withdrawn.

    A set is held whole when the batch has rows in it or covers it explicitly (an empty set,
    ``Page.covers``); a stored row is withdrawn only if the batch is not older than it.
    """
    assert spec.whole_per is not None and len(spec.whole_per) <= 1
    target = spec.raw
    group = ("academy_id", "upn", *spec.whole_per)
    sent = select(*(incoming.c[c] for c in group), incoming.c.source_updated_at.label("sent_at"))
    covered_set = [whole_sets_landing.c.set_key.label(c) for c in spec.whole_per]
    covered = (
        select(
            pupils.c.academy_id,
            pupils.c.upn,
            *covered_set,
            literal(None, DateTime(timezone=True)).label("sent_at"),
        )
        .join(
            pupils,
            and_(
                pupils.c.academy_id == whole_sets_landing.c.academy_id,
                pupils.c.mis_id == whole_sets_landing.c.mis_pupil_id,
            ),
        )
        .where(whole_sets_landing.c.batch_id == batch_id)
    )
    held = union_all(sent, covered).subquery("held")
    sets = (
        select(*(held.c[c] for c in group), func.max(held.c.sent_at).label("sent_at"))
        .group_by(*(held.c[c] for c in group))
        .subquery("sets")
    )
    still_sent = (
        select(literal(1))
        .select_from(incoming)
        .where(*(incoming.c[c] == target.c[c] for c in ("academy_id", "upn", *spec.key)))
        .exists()
    )
    statement = (
        update(target)
        .where(
            *(target.c[c] == sets.c[c] for c in group),
            target.c.withdrawn_at.is_(None),
            ~still_sent,
            or_(
                target.c.source_updated_at.is_(None),
                sets.c.sent_at.is_(None),
                sets.c.sent_at >= target.c.source_updated_at,
            ),
        )
        .values(withdrawn_at=func.now(), batch_id=batch_id, published_at=func.now())
    )
    withdrawn = int(conn.execute(statement).rowcount or 0)
    conn.execute(whole_sets_landing.delete().where(whole_sets_landing.c.batch_id == batch_id))
    return withdrawn


def publish(*, engine: Engine, batch_id: uuid.UUID) -> PublishResult:
    """Publish an audited batch and advance its watermark, atomically."""
    with engine.begin() as conn:
        batch = get_batch(conn, batch_id, lock=True)
        if batch.status == BatchStatus.PUBLISHED:
            return PublishResult(batch_id, batch.status, 0, batch.watermark_after)
        if batch.status == BatchStatus.BLOCKED:
            raise BatchBlocked(f"batch {batch_id} failed its audit; see meta.batches.message")
        if batch.status != BatchStatus.AUDITED:
            raise ValueError(f"batch {batch_id} is {batch.status}; audit it before publishing")
        stream = Stream(batch.stream)
        if stream is Stream.ATTENDANCE:
            changed = _publish_marks(conn, batch_id)
            conn.execute(
                attendance_landing.delete().where(attendance_landing.c.batch_id == batch_id)
            )
        elif stream in PUPIL_KEYED:
            changed = _publish_pupil_keyed(conn, PUPIL_KEYED[stream], batch_id)
        else:
            if batch.stream == Stream.PUPILS.value:
                changed = _publish_pupils(conn, batch_id)
                conn.execute(pupils_landing.delete().where(pupils_landing.c.batch_id == batch_id))
            else:
                changed = publish_deletions(conn, batch_id)
                changed += remove_deleted_marks(conn, batch.academy_id, batch_id)
            # A deletion may arrive before or after the pupil's record: settle both orders.
            changed += apply_deletions(conn, batch.academy_id)
        if batch.watermark_after is not None or batch.cursor_after is not None:
            advance_watermark(conn, batch)
        set_status(
            conn, batch_id, BatchStatus.PUBLISHED, rows_published=changed, finished_at=func.now()
        )
    if changed:
        # A first load changes a raw table's size by orders of magnitude; without fresh
        # statistics the next audit's pupil lookup is planned as if the roll were empty.
        target = (
            attendance_marks
            if stream is Stream.ATTENDANCE
            else PUPIL_KEYED[stream].raw
            if stream in PUPIL_KEYED
            else pupils
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {target.schema}.{target.name}")
    log.info("published batch %s: %d rows changed", batch_id, changed)
    return PublishResult(batch_id, BatchStatus.PUBLISHED, changed, batch.watermark_after)
