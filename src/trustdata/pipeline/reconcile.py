"""Reconciliation: a full read of an academy's roll or year of marks against what is stored.

Incremental syncs and explicit deletions miss what an MIS never reports: a pupil removed
without a changelog entry, register marks cleared in bulk. A reconciliation reads the whole
roll (pupils) or a whole academic year (attendance, a backfill batch) and, inside the publish's
transaction, compares keys with what is stored before the read began:

- stored, but neither read nor quarantined from this read: removed. A pupil gets a deletion in
  ``raw.deletions`` (so a newer record from the MIS restores them, as with explicit ones); a
  mark moves to ``raw.attendance_marks_superseded``.
- read, but not stored: published by the batch as any row is (counted).
- a pupil an earlier reconciliation removed who is back in the full roll: restored.

A reconciliation that would remove more than the academy's ``max_removal_share`` of its stored
pupils or marks (and more than ``WITHDRAW_ALWAYS_ALLOWED``) removes nothing: it raises
ReconciliationBlocked, the batch is blocked and its task fails, which alerts the data team.
Every reconciliation, blocked or not, is recorded in ``meta.reconciliations``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace

from sqlalchemy import (
    Connection,
    Date,
    Subquery,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from trustdata.adapters.base import Stream
from trustdata.domain.records import PUPIL_OBJECT
from trustdata.pipeline.batches import Batch
from trustdata.pipeline.keyed import WITHDRAW_ALWAYS_ALLOWED, roll
from trustdata.pipeline.staging import attendance_batch
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    batches,
    deletions,
    pupils,
    pupils_landing,
    quarantine,
    reconciliations,
)

#: The streams a reconciliation compares, and the kind of read each needs.
RECONCILED = (Stream.PUPILS, Stream.ATTENDANCE)


class ReconciliationBlocked(Exception):
    """A reconciliation would remove more than the academy's threshold; nothing was removed."""

    def __init__(self, outcome: Reconciliation) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation found and did (counts only)."""

    batch_id: uuid.UUID
    academy_id: str
    stream: str
    mis_rows: int
    stored_rows: int
    missing_in_mis: int
    missing_in_warehouse: int
    restored: int
    status: str
    message: str

    def record(self, conn: Connection) -> None:
        """Write this outcome to ``meta.reconciliations``."""
        conn.execute(reconciliations.insert().values(**asdict(self)))


def check_read(batch: Batch) -> None:
    """Raise ValueError unless the batch is a read a reconciliation can compare."""
    stream = Stream(batch.stream)
    if stream is Stream.PUPILS and not batch.is_full:
        raise ValueError(f"batch {batch.batch_id} is not a full read of the roll")
    if stream is Stream.ATTENDANCE and not batch.is_backfill:
        raise ValueError(f"batch {batch.batch_id} is not a whole academic year of marks")
    if stream not in RECONCILED:
        raise ValueError(f"{stream.value} is not reconciled")


def reconcile(conn: Connection, batch: Batch, max_removal_share: float) -> Reconciliation:
    """Compare the audited batch with what was stored before its read began; apply it.

    Call before the batch's rows are published (they are read from staging). Raises
    ReconciliationBlocked when the removals are over the threshold; the caller rolls back.
    """
    check_read(batch)
    if Stream(batch.stream) is Stream.PUPILS:
        return _pupils(conn, batch, max_removal_share)
    return _marks(conn, batch, max_removal_share)


def _judge(
    conn: Connection,
    batch: Batch,
    *,
    seen: Subquery,
    stored: Subquery,
    gone: Subquery,
    new: Subquery,
    share: float,
    noun: str,
) -> Reconciliation:
    """Count the read against what is stored; raise ReconciliationBlocked if over the bound."""
    missing, stored_rows = _count(conn, gone), _count(conn, stored)
    mis_rows, new_rows = _count(conn, seen), _count(conn, new)
    over = missing > WITHDRAW_ALWAYS_ALLOWED and missing > share * stored_rows
    if over:
        status = "blocked"
        message = (
            f"reconciliation would remove {missing} of the academy's {stored_rows} stored "
            f"{noun} missing from the MIS's full read, over its max_removal_share of {share:.0%}: "
            "nothing was removed. Check the MIS (a filtered or failed export?); if the removals "
            "are right, raise max_removal_share for one run"
        )
    else:
        status = "applied" if missing else "clean"
        message = (
            f"{mis_rows} {noun} read, {stored_rows} stored: {missing} removed as gone from the "
            f"MIS, {new_rows} new"
        )
    outcome = Reconciliation(
        batch_id=batch.batch_id,
        academy_id=batch.academy_id,
        stream=batch.stream,
        mis_rows=mis_rows,
        stored_rows=stored_rows,
        missing_in_mis=missing,
        missing_in_warehouse=new_rows,
        restored=0,
        status=status,
        message=message,
    )
    if over:
        raise ReconciliationBlocked(outcome)
    return outcome


def _count(conn: Connection, query: Subquery) -> int:
    return int(conn.execute(select(func.count()).select_from(query)).scalar_one())


def _pupils(conn: Connection, batch: Batch, share: float) -> Reconciliation:
    academy_id, batch_id = batch.academy_id, batch.batch_id
    staged = select(pupils_landing.c.mis_id).where(pupils_landing.c.batch_id == batch_id)
    spoilt = select(quarantine.c.record["mis_id"].as_string().label("mis_id")).where(
        quarantine.c.batch_id == batch_id
    )
    seen = union(staged, spoilt).subquery("seen")
    stored = and_(
        pupils.c.academy_id == academy_id,
        pupils.c.deleted_at.is_(None),
        pupils.c.published_at < batch.started_at,
    )
    gone = and_(stored, pupils.c.mis_id.not_in(select(seen.c.mis_id)))
    outcome = _judge(
        conn,
        batch,
        seen=seen,
        stored=select(pupils.c.mis_id).where(stored).subquery(),
        gone=select(pupils.c.mis_id).where(gone).subquery(),
        new=select(seen.c.mis_id)
        .where(~exists().where(pupils.c.academy_id == academy_id, pupils.c.mis_id == seen.c.mis_id))
        .subquery(),
        share=share,
        noun="pupils",
    )
    statement = insert(deletions).from_select(
        ["academy_id", "object_type", "mis_id", "deleted_at", "batch_id"],
        select(
            pupils.c.academy_id,
            literal(PUPIL_OBJECT),
            pupils.c.mis_id,
            func.now(),
            literal(batch_id),
        )
        .where(gone)
        .distinct(),
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[deletions.c.academy_id, deletions.c.object_type, deletions.c.mis_id],
            set_={"deleted_at": func.now(), "batch_id": batch_id, "published_at": func.now()},
        )
    )
    restored = _restore(conn, academy_id, seen)
    if not restored:
        return outcome
    return replace(
        outcome,
        restored=restored,
        status="applied",
        message=f"{outcome.message}, {restored} restored",
    )


def _restore(conn: Connection, academy_id: str, seen: Subquery) -> int:
    """Restore pupils an earlier reconciliation removed who are in this full read again."""
    by_reconciliation = (
        select(deletions.c.mis_id)
        .join(batches, batches.c.batch_id == deletions.c.batch_id)
        .where(
            deletions.c.academy_id == academy_id,
            deletions.c.object_type == PUPIL_OBJECT,
            batches.c.stream == Stream.PUPILS.value,
            deletions.c.mis_id.in_(select(seen.c.mis_id)),
        )
    )
    back = list(conn.execute(by_reconciliation).scalars())
    if not back:
        return 0
    conn.execute(
        delete(deletions).where(
            deletions.c.academy_id == academy_id,
            deletions.c.object_type == PUPIL_OBJECT,
            deletions.c.mis_id.in_(back),
        )
    )
    return int(
        conn.execute(
            update(pupils)
            .where(
                pupils.c.academy_id == academy_id,
                pupils.c.mis_id.in_(back),
                pupils.c.deleted_at.is_not(None),
            )
            .values(deleted_at=None)
        ).rowcount
        or 0
    )


def _marks(conn: Connection, batch: Batch, share: float) -> Reconciliation:
    academy_id, batch_id = batch.academy_id, batch.batch_id
    current = roll(academy_id)
    staged_rows = attendance_batch(batch_id).c
    staged = (
        select(current.c.upn, staged_rows.mark_date, staged_rows.session)
        .join(current, current.c.mis_id == staged_rows.mis_pupil_id)
        .where(staged_rows.batch_id == batch_id)
    )
    record = quarantine.c.record
    spoilt = (
        select(
            current.c.upn,
            cast(record["mark_date"].as_string(), Date).label("mark_date"),
            record["session"].as_string().label("session"),
        )
        .join(current, current.c.mis_id == record["mis_pupil_id"].as_string())
        .where(quarantine.c.batch_id == batch_id)
    )
    seen = union(staged, spoilt).subquery("seen")
    marks = attendance_marks.c
    stored = and_(
        marks.academy_id == academy_id,
        marks.mark_date.between(batch.backfill_from, batch.backfill_to),
        marks.published_at < batch.started_at,
    )
    gone = and_(
        stored,
        ~exists().where(
            seen.c.upn == marks.upn,
            seen.c.mark_date == marks.mark_date,
            seen.c.session == marks.session,
        ),
    )
    outcome = _judge(
        conn,
        batch,
        seen=seen,
        stored=select(marks.upn).where(stored).subquery(),
        gone=select(marks.upn).where(gone).subquery(),
        new=select(seen.c.upn)
        .where(
            ~exists().where(
                marks.academy_id == academy_id,
                marks.upn == seen.c.upn,
                marks.mark_date == seen.c.mark_date,
                marks.session == seen.c.session,
            )
        )
        .subquery(),
        share=share,
        noun="marks",
    )
    kept = [c.name for c in attendance_marks.columns]
    conn.execute(
        attendance_marks_superseded.insert().from_select(
            [*kept, "superseded_by_batch_id"],
            select(*(marks[c] for c in kept), literal(batch_id)).where(gone),
        )
    )
    conn.execute(delete(attendance_marks).where(gone))
    return outcome
