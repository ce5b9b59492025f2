"""Explicit deletions: publish what the MIS says it deleted, and apply it to pupils and marks.

A pupil is never deleted because it is missing from an incremental read, only on an explicit
deletion or by a reconciliation of a full read (``pipeline.reconcile``), both bounded by the
academy's ``max_removal_share``.
Nothing is removed: the pupil row gets ``deleted_at`` and the marts leave it out, so a pupil
the MIS later restores (a newer record than the deletion) comes back with full history.
A deleted register mark leaves the published marks for ``raw.attendance_marks_superseded``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, and_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from trustdata.domain.records import MARK_OBJECT, PUPIL_OBJECT
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    deletions,
    deletions_landing,
    pupils,
)

PUPIL = PUPIL_OBJECT


def publish_deletions(conn: Connection, batch_id: uuid.UUID) -> int:
    """Upsert a batch's deletions into raw.deletions; return how many changed."""
    staged = deletions_landing.c
    latest = (
        select(
            staged.academy_id,
            staged.object_type,
            staged.mis_id,
            staged.deleted_at,
            literal(batch_id).label("batch_id"),
        )
        .where(staged.batch_id == batch_id)
        .distinct(staged.object_type, staged.mis_id)
        .order_by(staged.object_type, staged.mis_id, staged.deleted_at.desc().nulls_last())
    )
    statement = insert(deletions).from_select(
        ["academy_id", "object_type", "mis_id", "deleted_at", "batch_id"], latest
    )
    statement = statement.on_conflict_do_update(
        index_elements=[deletions.c.academy_id, deletions.c.object_type, deletions.c.mis_id],
        set_={
            "deleted_at": statement.excluded.deleted_at,
            "batch_id": batch_id,
            "published_at": func.now(),
        },
        where=deletions.c.deleted_at.is_distinct_from(statement.excluded.deleted_at),
    )
    changed = int(conn.execute(statement).rowcount or 0)
    conn.execute(deletions_landing.delete().where(staged.batch_id == batch_id))
    return changed


def remove_deleted_marks(conn: Connection, academy_id: str, batch_id: uuid.UUID) -> int:
    """Move the marks a deletions batch names out of the published marks; return how many.

    A deleted mark is kept in ``raw.attendance_marks_superseded``, superseded by the deletions
    batch, so the register's history stays whole; the marts read only the published marks. Only
    the batch's own deletions are applied: a mark is deleted once, after it was created.
    """
    named = select(deletions.c.mis_id).where(
        deletions.c.academy_id == academy_id,
        deletions.c.object_type == MARK_OBJECT,
        deletions.c.batch_id == batch_id,
    )
    stored = attendance_marks.c
    gone = and_(stored.academy_id == academy_id, stored.mis_mark_id.in_(named))
    kept = [c.name for c in attendance_marks.columns]
    conn.execute(
        attendance_marks_superseded.insert().from_select(
            [*kept, "superseded_by_batch_id"],
            select(*(stored[c] for c in kept), literal(batch_id)).where(gone),
        )
    )
    return int(conn.execute(attendance_marks.delete().where(gone)).rowcount or 0)


def apply_deletions(conn: Connection, academy_id: str) -> tuple[int, int]:
    """Mark the academy's deleted pupils, and clear the mark of pupils restored since.

    Returns how many pupil rows were newly deleted, and how many were restored.
    """
    when = func.coalesce(deletions.c.deleted_at, deletions.c.published_at)
    deleted = conn.execute(
        update(pupils)
        .where(
            pupils.c.academy_id == academy_id,
            deletions.c.academy_id == pupils.c.academy_id,
            deletions.c.object_type == PUPIL,
            deletions.c.mis_id == pupils.c.mis_id,
            or_(pupils.c.source_updated_at.is_(None), when >= pupils.c.source_updated_at),
            pupils.c.deleted_at.is_distinct_from(when),
        )
        .values(deleted_at=when)
    ).rowcount
    restored = conn.execute(
        update(pupils)
        .where(
            and_(
                pupils.c.academy_id == academy_id,
                pupils.c.deleted_at.is_not(None),
                pupils.c.source_updated_at > pupils.c.deleted_at,
            )
        )
        .values(deleted_at=None)
    ).rowcount
    return int(deleted or 0), int(restored or 0)


def live_counts(conn: Connection, academy_id: str) -> tuple[int, int]:
    """The academy's stored pupils not deleted, and its published marks."""
    live_pupils = select(func.count()).where(
        pupils.c.academy_id == academy_id, pupils.c.deleted_at.is_(None)
    )
    marks = select(func.count()).where(attendance_marks.c.academy_id == academy_id)
    return int(conn.execute(live_pupils).scalar_one()), int(conn.execute(marks).scalar_one())
