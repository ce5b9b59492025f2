"""Publish: move an audited batch from staging into the raw tables, in one transaction.

The watermark advances in the same transaction, so a failure anywhere leaves neither rows nor
watermark half-moved. Publishing is idempotent: upserts change a row only when the source sent
something different and newer, and a batch already published is a no-op. A mark replaced by a
different code is kept in ``raw.attendance_marks_superseded`` for audit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Subquery,
    Table,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from trustdata.adapters.base import Stream
from trustdata.pipeline.batches import (
    Batch,
    BatchStatus,
    advance_watermark,
    get_batch,
    record_publish_failure,
    set_status,
)
from trustdata.pipeline.counts import Counts, upsert
from trustdata.pipeline.deletions import (
    apply_deletions,
    live_counts,
    publish_deletions,
    remove_deleted_marks,
)
from trustdata.pipeline.keyed import (
    WITHDRAW_ALWAYS_ALLOWED,
    TooMuchWithdrawn,
    newer_and_different,
    not_older,
    publish_pupil_keyed,
    roll,
)
from trustdata.pipeline.land import staged_table
from trustdata.pipeline.reconcile import Reconciliation, ReconciliationBlocked, reconcile
from trustdata.pipeline.staging import attendance_batch, drop_batch_tables
from trustdata.pipeline.streams import PUPIL_KEYED
from trustdata.warehouse.partitions import (
    attach_leaf,
    build_leaf,
    leaf_exists,
    leaf_name,
    lock_years,
    year_bounds,
    years_between,
)
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    pupils,
    pupils_landing,
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
    counts: Counts = field(default_factory=Counts)


class BatchBlocked(Exception):
    """The batch failed an error-severity check and may not be published."""


def _publish_pupils(conn: Connection, batch_id: uuid.UUID) -> Counts:
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
        where=newer_and_different(pupils, statement.excluded, _PUPIL_DATA),
    )
    return upsert(conn, statement)


def _resolved_marks(batch_id: uuid.UUID, academy_id: str, years: Sequence[int]) -> Subquery:
    """Staged marks of academic ``years``, the pupil's UPN in place of the MIS id, latest per key.

    They come out in the order of the marks' primary key (UPN, date, session), so a publish
    inserts into it in order. The sort's first key is one integer per (pupil, date, AM or PM):
    the pupil's rank on the roll in bytewise UPN order, the day within the years and whether
    the session is the afternoon, packed into bits. The session itself comes next, so any other
    session is still told apart by its text. Equal integers and sessions are equal keys, so the
    dedup is the primary key's, and for AM and PM (all the audit lets through) so is the order
    (any other session sorts before the day's PM); but PostgreSQL's sort compares the
    first key inside its array and reads a row only on a tie, where text (even ``COLLATE "C"``)
    or several keys are read from each row (measured on a secondary's year, 424,670 marks in
    API order: the sort and dedup 0.51 s -> 0.34 s; the rank in place of the UPN text had
    already taken the insert from 1.00 s to 0.81 s).
    """
    staged = attendance_batch(batch_id).c
    pupils = roll(academy_id)
    current = select(
        pupils,
        func.dense_rank().over(order_by=pupils.c.upn.collate("C")).label("upn_order"),
    ).subquery("ranked")
    bounds = [year_bounds(year) for year in years]
    first_day = min(start for start, _ in bounds)
    # Room for two sessions a day over the years (they need not be consecutive); the ranks
    # start at 1. At most 2**23 for 9,999 years, times far fewer than 2**40 pupils.
    room = 2 ** (2 * (max(end for _, end in bounds) - first_day).days).bit_length()
    packed = (
        current.c.upn_order * literal(room, BigInteger)
        + cast(staged.mark_date - first_day, BigInteger) * 2
        + cast(staged.session == "PM", Integer)
    )
    key = (packed, staged.session.collate("C"))
    return (
        select(
            staged.academy_id,
            current.c.upn,
            staged.mark_date,
            staged.session,
            staged.code,
            staged.source_code,
            staged.mis_mark_id,
            staged.source_updated_at,
        )
        .join(current, current.c.mis_id == staged.mis_pupil_id)
        .where(
            staged.batch_id == batch_id,
            or_(
                *(and_(staged.mark_date >= start, staged.mark_date < end) for start, end in bounds)
            ),
        )
        .distinct(*key)
        .order_by(
            *key,
            staged.source_updated_at.desc().nulls_last(),
            staged.mis_mark_id.desc().nulls_last(),
        )
        .subquery("incoming")
    )


def _keep_superseded(
    conn: Connection, incoming: Table, batch_id: uuid.UUID, academy_id: str
) -> None:
    """Copy each stored mark that the batch replaces with a different code."""
    stored = attendance_marks.c
    kept = [c.name for c in attendance_marks.columns]
    replaced = (
        select(*(stored[c] for c in kept), literal(batch_id).label("superseded_by_batch_id"))
        .join(incoming, and_(*(stored[c] == incoming.c[c] for c in _MARK_KEY)))
        .where(
            # Said outright, so the plan reads only this academy's marks (by the primary key)
            # rather than every academy's: the join alone does not tell the planner.
            stored.academy_id == academy_id,
            stored.code.is_distinct_from(incoming.c.code),
            not_older(incoming.c.source_updated_at, stored.source_updated_at),
        )
    )
    conn.execute(
        attendance_marks_superseded.insert().from_select(
            [*kept, "superseded_by_batch_id"], replaced
        )
    )


def _incoming_table() -> Table:
    """A temporary table for a batch's resolved marks, dropped when the publish commits."""
    return Table(
        "publish_incoming_marks",
        MetaData(),
        *(Column(c.name, c.type) for c in attendance_marks.columns if c.name in _MARK_COLUMNS),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


_MARK_COLUMNS = (*_MARK_KEY, *_MARK_DATA)


def _batch_span(conn: Connection, batch_id: uuid.UUID) -> tuple[date, date] | None:
    """The first and last date of an attendance batch's staged marks (None when it has none)."""
    staged = attendance_batch(batch_id).c
    dates = select(func.min(staged.mark_date), func.max(staged.mark_date)).where(
        staged.batch_id == batch_id
    )
    first, last = conn.execute(dates).one()
    return None if first is None else (first, last)


def _publish_marks(
    conn: Connection, batch_id: uuid.UUID, academy_id: str, span: tuple[date, date]
) -> Counts:
    """Upsert a batch's marks (dated within ``span``) by UPN, keeping each mark it replaces.

    The batch's marks are resolved to UPNs (latest per pupil, date and session). Marks of an
    academic year the academy has no partition for yet (a first load, or a backfill of a
    year not yet held) make that partition (``trustdata.warehouse.partitions``): there is
    nothing to supersede or update. The rest go into their partitions through the parent:
    inserted as they are when the academy has no stored marks on the batch's dates, otherwise
    resolved once, into a temporary table both the superseding and the upsert read. The new
    partitions are attached last. The caller holds ``lock_years`` for the span's years.
    """
    # The batch is resolved and sorted by key in one pass (a primary's year is 150,000 marks,
    # a secondary's 400,000): in memory, not in sorted runs on disk (measured: 0.6 s -> 0.3 s
    # for the sort of 150,000 marks).
    conn.exec_driver_sql("SET LOCAL work_mem = '128MB'")
    years = years_between(*span)
    new = [year for year in years if not leaf_exists(conn, academy_id, year)]
    built: dict[int, int] = {}
    for year in new:
        resolved = _resolved_marks(batch_id, academy_id, [year])
        rows = select(*(resolved.c[c] for c in _MARK_COLUMNS), literal(batch_id))
        built[year] = build_leaf(conn, academy_id, year, [*_MARK_COLUMNS, "batch_id"], rows)
    years = [year for year in years if year not in new]
    # The new partitions are not attached yet: the parent shows only the held years' marks.
    changed = _publish_held(conn, batch_id, academy_id, years, span) if years else Counts()
    for year, rows_built in built.items():
        if rows_built:
            attach_leaf(conn, academy_id, year)
    return changed + Counts(inserted=sum(built.values()))


def _publish_held(
    conn: Connection,
    batch_id: uuid.UUID,
    academy_id: str,
    years: list[int],
    span: tuple[date, date],
) -> Counts:
    """Publish the batch's marks of ``years``, whose partitions exist, through the parent."""
    resolved = _resolved_marks(batch_id, academy_id, years)
    stored = attendance_marks.c
    held = conn.execute(
        select(
            select(literal(1))
            .where(stored.academy_id == academy_id, stored.mark_date.between(*span))
            .exists()
        )
    ).scalar_one()
    if not held:
        rows = select(*(resolved.c[c] for c in _MARK_COLUMNS), literal(batch_id))
        statement = insert(attendance_marks).from_select([*_MARK_COLUMNS, "batch_id"], rows)
        return Counts(inserted=conn.execute(statement).rowcount or 0)
    incoming = _incoming_table()
    incoming.create(conn)
    conn.execute(
        incoming.insert().from_select(
            list(_MARK_COLUMNS), select(*(resolved.c[c] for c in _MARK_COLUMNS))
        )
    )
    conn.exec_driver_sql("ANALYZE publish_incoming_marks")
    _keep_superseded(conn, incoming, batch_id, academy_id)
    # An update and then an insert of the rest, rather than one INSERT ... ON CONFLICT: a
    # partitioned table cannot return xmax, which tells an upsert's inserts from its updates.
    # lock_years keeps every other publish of these years out until this one commits.
    updated = conn.execute(
        update(attendance_marks)
        .where(
            stored.academy_id == academy_id,
            *(stored[c] == incoming.c[c] for c in _MARK_KEY),
            newer_and_different(attendance_marks, incoming.c, _MARK_DATA),
        )
        .values(
            **{c: incoming.c[c] for c in _MARK_DATA}, batch_id=batch_id, published_at=func.now()
        )
    ).rowcount
    rows = select(*(incoming.c[c] for c in _MARK_COLUMNS), literal(batch_id).label("batch_id"))
    statement = (
        insert(attendance_marks)
        .from_select([*_MARK_COLUMNS, "batch_id"], rows)
        .on_conflict_do_nothing(index_elements=[attendance_marks.c[c] for c in _MARK_KEY])
    )
    inserted = conn.execute(statement).rowcount or 0
    return Counts(inserted=inserted, updated=int(updated or 0))


def publish(
    *,
    engine: Engine,
    batch_id: uuid.UUID,
    max_removal_share: float = 1.0,
    reconcile_read: bool = False,
) -> PublishResult:
    """Publish an audited batch and advance its watermark, atomically.

    ``max_removal_share`` bounds what one batch may withdraw or delete of an academy's stored
    rows of a stream; a batch over it is rolled back and marked blocked, with the reason.
    ``reconcile_read`` makes the batch (a full roll, or a year of marks) a reconciliation:
    stored rows it does not hold are removed within the same bound (``pipeline.reconcile``).
    """
    try:
        return _publish(engine, batch_id, max_removal_share, reconcile_read)
    except (TooMuchWithdrawn, ReconciliationBlocked) as exc:
        with engine.begin() as conn:
            set_status(conn, batch_id, BatchStatus.BLOCKED, message=f"error: {exc}")
            if isinstance(exc, ReconciliationBlocked):
                exc.outcome.record(conn)
        raise BatchBlocked(f"batch {batch_id} blocked: {exc}") from None
    except Exception as exc:
        # Rolled back: nothing of the batch is visible and the watermark has not moved. The
        # batch says so (a retry may still publish it), and the error carries no row data.
        with engine.begin() as conn:
            reason = record_publish_failure(conn, batch_id, exc)
        if isinstance(exc, DBAPIError):
            raise RuntimeError(f"batch {batch_id}: {reason}") from None
        raise


def _guard_deletions(
    academy_id: str, live: tuple[int, int], removed: tuple[int, int], share: float
) -> None:
    """Raise TooMuchWithdrawn when explicit deletions take too much of the academy at once."""
    for noun, stored, gone in (("pupils", live[0], removed[0]), ("marks", live[1], removed[1])):
        if gone > WITHDRAW_ALWAYS_ALLOWED and gone > share * stored:
            raise TooMuchWithdrawn(
                f"this batch of the MIS's deletions would delete {gone} of academy "
                f"{academy_id}'s {stored} stored {noun}, over its max_removal_share of "
                f"{share:.0%}: check with the MIS that they were deleted on purpose, then "
                "raise max_removal_share for one run"
            )


#: Raw tables' statistics are refreshed once this share of them has changed since they were
#: last gathered: autovacuum's own rule (autovacuum_analyze_scale_factor, _threshold), applied
#: here because the pipeline cannot count on autovacuum running, or running soon.
ANALYZE_SHARE = 0.1
ANALYZE_THRESHOLD = 50

_STATISTICS = text(
    "SELECT s.n_mod_since_analyze, c.reltuples, "
    "coalesce(s.last_analyze, s.last_autoanalyze) IS NULL, "
    # The academy is planned for when it is among academy_id's most common values, or when
    # those do not cover the column (over 100 academies, or none much commoner than the rest):
    # the planner then shares out the rest among the other values. Otherwise it takes the
    # academy's rows for none.
    "EXISTS (SELECT 1 FROM pg_stats AS p WHERE p.schemaname = n.nspname "
    "AND p.tablename = c.relname AND p.attname = 'academy_id' "
    "AND (CAST(:academy AS text) = ANY (CAST(CAST(p.most_common_vals AS text) AS text[])) "
    "OR p.null_frac + coalesce((SELECT sum(f) FROM unnest(p.most_common_freqs) AS f), 0) "
    "< 0.999)) "
    "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "JOIN pg_stat_user_tables AS s ON s.relid = c.oid WHERE c.oid = to_regclass(:t)"
)


def stale_statistics(conn: Connection, table: str, academy_id: str, changed: int) -> str | None:
    """What of ``table``'s statistics a publish of ``changed`` rows of the academy left stale.

    ``"all"`` when they were never gathered or enough of the table has changed since
    (``ANALYZE_SHARE``); else ``"academy"`` when the planner would take the academy's rows for
    none (a new academy, absent from the most common values of ``academy_id``, which cover
    the column); else None. The server's count of changes can lag its last commits by a
    second: the publish's own count is the least that has changed.
    """
    found = conn.execute(_STATISTICS, {"t": table, "academy": academy_id}).one_or_none()
    if found is None:
        return None
    counted, rows, never, planned = found
    if never or rows < 0 or max(counted, changed) > ANALYZE_THRESHOLD + ANALYZE_SHARE * rows:
        return "all"
    return None if planned else "academy"


def _refresh_statistics(
    engine: Engine, stream: Stream, changed: int, academy_id: str, years: Sequence[int]
) -> None:
    """ANALYZE the raw table a publish wrote, as far as its statistics are stale.

    A first load changes a raw table's size by orders of magnitude; without fresh statistics
    the next audit's pupil lookup is planned as if the roll were empty (measured: the
    enrolled-on-date check of one academy's year took 100 s against 0.5 s, when the roll's
    statistics did not yet hold the academy). A pupil-keyed table (the roll, enrolments ...)
    is analysed whole once enough of it has changed; otherwise, when its statistics do not yet
    hold the academy, only its ``academy_id`` is (the rows are sampled either way, but the
    other columns' statistics, the UPNs' and MIS ids' above all, are not worked out again;
    their counts of distinct values are kept as shares of the rows, so they still hold as the
    table grows, and autovacuum's count of changes is not reset). The whole roll of a
    70,000-pupil trust: 120 ms, against 23 ms for its academy column, once for each academy
    a first load publishes. Marks are analysed by partition (one academy's year), when it has
    none yet or enough of it changed; the parent's statistics over all partitions are the
    warehouse build's to refresh (``trustdata.warehouse.partitions.refresh_parent_statistics``).
    """
    if stream is not Stream.ATTENDANCE:
        target = PUPIL_KEYED[stream].raw if stream in PUPIL_KEYED else pupils
        name = f"{target.schema}.{target.name}"
        with engine.begin() as conn:
            stale = stale_statistics(conn, name, academy_id, changed)
            if stale is not None:
                conn.exec_driver_sql(
                    f"ANALYZE {name}" + (" (academy_id)" if stale == "academy" else "")
                )
        return
    for year in years:
        name = f"{attendance_marks.schema}.{leaf_name(academy_id, year)}"
        with engine.begin() as conn:
            if stale_statistics(conn, name, academy_id, changed) == "all":
                conn.exec_driver_sql(f"ANALYZE {name}")


class StagingLost(RuntimeError):
    """A batch's staged rows are fewer than it landed: the staging tables were emptied."""


def _check_staged(conn: Connection, stream: Stream, batch: Batch) -> None:
    """Refuse a batch whose staging rows are not all there.

    Staging is unlogged: after a database crash PostgreSQL empties it, while the batch record
    still says the rows landed. Published as it stands, such a batch would publish nothing and
    (an incremental read) move the watermark past marks no later read would fetch again.
    """
    staged = staged_table(stream, batch.batch_id)
    present = conn.execute(
        select(func.count()).select_from(staged).where(staged.c.batch_id == batch.batch_id)
    ).scalar_one()
    expected = batch.rows_landed - batch.rows_quarantined
    if present < expected:
        raise StagingLost(
            f"batch {batch.batch_id}: staging holds {present} of the {expected} {stream.value} "
            "rows it landed and did not quarantine (staging is unlogged, so a database crash or "
            "restart after one empties it); nothing was published and the watermark has not "
            "moved: land the stream again (its next run does)"
        )


def _publish(
    engine: Engine, batch_id: uuid.UUID, max_removal_share: float, reconcile_read: bool
) -> PublishResult:
    with engine.begin() as conn:
        batch = get_batch(conn, batch_id, lock=True)
        if batch.status == BatchStatus.PUBLISHED:
            return PublishResult(batch_id, batch.status, 0, batch.watermark_after)
        if batch.status == BatchStatus.BLOCKED:
            raise BatchBlocked(f"batch {batch_id} failed its audit; see meta.batches.message")
        if not batch.publishable:
            raise ValueError(f"batch {batch_id} is {batch.status}; audit it before publishing")
        stream = Stream(batch.stream)
        _check_staged(conn, stream, batch)
        reconciled: Reconciliation | None = None
        years: list[int] = []
        span = _batch_span(conn, batch_id) if stream is Stream.ATTENDANCE else None
        if span is not None:
            # First of all, before the reconciliation takes any row locks: a publish of the
            # same academy and years waits here, never half-way.
            years = years_between(*span)
            lock_years(conn, batch.academy_id, years)
        if reconcile_read:
            reconciled = reconcile(conn, batch, max_removal_share)
        if stream is Stream.ATTENDANCE:
            changed = _publish_marks(conn, batch_id, batch.academy_id, span) if span else Counts()
            drop_batch_tables(conn, stream, [batch_id])
            if reconciled is not None:
                changed += Counts(removed=reconciled.missing_in_mis)
        elif stream in PUPIL_KEYED:
            spec = PUPIL_KEYED[stream]
            changed = publish_pupil_keyed(conn, spec, batch_id, batch.academy_id, max_removal_share)
        elif stream is Stream.PUPILS:
            changed = _publish_pupils(conn, batch_id)
            conn.execute(pupils_landing.delete().where(pupils_landing.c.batch_id == batch_id))
            # A deletion may arrive before or after the pupil's record: settle both orders.
            deleted, restored = apply_deletions(conn, batch.academy_id)
            removed = reconciled.missing_in_mis if reconciled is not None else 0
            changed += Counts(updated=deleted + restored - removed, removed=removed)
        else:
            live = live_counts(conn, batch.academy_id)
            changed = Counts(inserted=publish_deletions(conn, batch_id))
            marks_gone = remove_deleted_marks(conn, batch.academy_id, batch_id)
            deleted, restored = apply_deletions(conn, batch.academy_id)
            _guard_deletions(batch.academy_id, live, (deleted, marks_gone), max_removal_share)
            changed += Counts(removed=marks_gone + deleted, updated=restored)
        if reconciled is not None:
            reconciled.record(conn)
        moved = batch.watermark_after is not None or batch.cursor_after is not None
        if moved and not batch.is_backfill:
            advance_watermark(conn, batch)
        if changed.total and (conn.dialect.server_version_info or (0,)) >= (15,):
            # The server counts a backend's changes into the table statistics at most once a
            # second: sent at this commit, they are there for the refresh below to read, and
            # not added after an ANALYZE that has just reset them (one more ANALYZE soon).
            conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        set_status(
            conn,
            batch_id,
            BatchStatus.PUBLISHED,
            rows_published=changed.total,
            rows_inserted=changed.inserted,
            rows_updated=changed.updated,
            rows_removed=changed.removed,
            finished_at=func.now(),
        )
    if changed.total:
        _refresh_statistics(engine, stream, changed.total, batch.academy_id, years)
    log.info(
        "published batch %s: %d inserted, %d updated, %d removed",
        batch_id,
        changed.inserted,
        changed.updated,
        changed.removed,
    )
    return PublishResult(
        batch_id, BatchStatus.PUBLISHED, changed.total, batch.watermark_after, changed
    )
