"""Publishing the pupil-keyed streams (enrolments, periods, results, summaries) by UPN.

Rows arrive keyed by the MIS pupil id and are published keyed by UPN, resolved through the
academy's published roll. A row changes only when the source sent something different and not
older (``newer_and_different``, shared with the pupils and marks upserts). Streams sent whole
per pupil withdraw the stored rows a batch's sets leave out (see ``pipeline.streams``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
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

from trustdata.pipeline.counts import Counts, upsert
from trustdata.pipeline.streams import PupilKeyedStream
from trustdata.warehouse.tables import pupils, quarantine, whole_sets_landing


def newer_and_different(
    target: Table, excluded: ReadOnlyColumnCollection[str, Any], columns: list[str]
) -> ColumnElement[bool]:
    """Upsert guard: the incoming row differs and is not older than the stored one.

    A row without a source timestamp (a change-log source such as Arbor stamps none) is as
    current as the read that brought it, so it is never "older" than the stored row.
    """
    changed = or_(*(target.c[c].is_distinct_from(excluded[c]) for c in columns))
    return and_(changed, not_older(excluded["source_updated_at"], target.c.source_updated_at))


def not_older(incoming: ColumnElement[Any], stored: ColumnElement[Any]) -> ColumnElement[bool]:
    """True unless both timestamps are known and the incoming one is the earlier."""
    return or_(stored.is_(None), incoming.is_(None), incoming >= stored)


def roll(academy_id: str) -> Subquery:
    """The academy's published pupils, one row per MIS id: the UPN that MIS id stands for now.

    A MIS id can sit on two pupil rows (a temporary UPN replaced by a permanent one; an id an
    earlier MIS used for another child): the live, newest row wins, so a row keyed by MIS id
    is published under one UPN only.
    """
    return (
        select(pupils.c.academy_id, pupils.c.mis_id, pupils.c.upn)
        .where(pupils.c.academy_id == academy_id)
        .distinct(pupils.c.mis_id)
        .order_by(
            pupils.c.mis_id,
            pupils.c.deleted_at.is_(None).desc(),
            pupils.c.source_updated_at.desc().nulls_last(),
            pupils.c.published_at.desc(),
        )
        .subquery("roll")
    )


class TooMuchWithdrawn(Exception):
    """A batch would withdraw more of an academy's stored rows than its threshold allows."""


#: A batch may always withdraw this many rows, whatever the share: corrections are normal.
WITHDRAW_ALWAYS_ALLOWED = 10


def publish_pupil_keyed(
    conn: Connection,
    spec: PupilKeyedStream,
    batch_id: uuid.UUID,
    academy_id: str,
    max_removal_share: float = 1.0,
) -> Counts:
    """Upsert a batch of a pupil-keyed stream by UPN; withdraw rows a whole set left out.

    Raises TooMuchWithdrawn (the caller rolls back) when the withdrawals would exceed
    ``max_removal_share`` of the academy's live rows of the stream, and more than
    ``WITHDRAW_ALWAYS_ALLOWED``: an emptied list or a report saved half-way must not wipe
    the characteristics the gap measures depend on.
    """
    staged = spec.landing.c
    current = roll(academy_id)
    key = ("academy_id", "upn", *spec.key)
    data = [*spec.data, "mis_id", "source_updated_at"]
    incoming = (
        select(
            staged.academy_id,
            current.c.upn,
            *(staged[c] for c in spec.key),
            *(staged[c] for c in spec.data),
            staged.mis_pupil_id.label("mis_id"),
            staged.source_updated_at,
        )
        .join(current, current.c.mis_id == staged.mis_pupil_id)
        .where(staged.batch_id == batch_id)
        .distinct(current.c.upn, *(staged[c] for c in spec.key))
        .order_by(
            current.c.upn,
            *(staged[c] for c in spec.key),
            staged.source_updated_at.desc().nulls_last(),
            # Same key and time (no timestamps): a deterministic choice, open periods first.
            *(staged[c].desc().nulls_first() for c in spec.data),
        )
        .subquery("incoming")
    )
    target = spec.raw
    withdrawn = spec.whole_per is not None
    gone = 0
    if withdrawn:
        live = conn.execute(
            select(func.count())
            .select_from(target)
            .where(target.c.academy_id == academy_id, target.c.withdrawn_at.is_(None))
        ).scalar_one()
        gone = _withdraw_left_out(conn, spec, incoming, batch_id, current)
        if gone > WITHDRAW_ALWAYS_ALLOWED and gone > max_removal_share * live:
            raise TooMuchWithdrawn(
                f"this batch would withdraw {gone} of the academy's {live} stored "
                f"{spec.stream.value} rows, over its max_removal_share of "
                f"{max_removal_share:.0%}: check the source (an emptied list, a report saved "
                "half-way, lost permissions); if the change is real, raise max_removal_share "
                "in the academy's config and run the sync again"
            )
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
        where=newer_and_different(target, statement.excluded, compared),
    )
    changed = upsert(conn, statement)
    conn.execute(spec.landing.delete().where(staged.batch_id == batch_id))
    return changed + Counts(removed=gone)


def _withdraw_left_out(
    conn: Connection,
    spec: PupilKeyedStream,
    incoming: Subquery,
    batch_id: uuid.UUID,
    current: Subquery,
) -> int:
    """Mark stored rows of each set the batch holds whole, but without them, as withdrawn.

    A set is held whole when the batch has rows in it or covers it explicitly (an empty set,
    ``Page.covers``); a stored row is withdrawn only if the batch is not older than it. A set
    with a row the audit quarantined is not whole any more: it is left as stored, so a bad
    row never takes its good stored version with it.
    """
    assert spec.whole_per is not None and len(spec.whole_per) <= 1
    target = spec.raw
    group = ("academy_id", "upn", *spec.whole_per)
    sent = select(*(incoming.c[c] for c in group), incoming.c.source_updated_at.label("sent_at"))
    covered_set = [whole_sets_landing.c.set_key.label(c) for c in spec.whole_per]
    covered = (
        select(
            current.c.academy_id,
            current.c.upn,
            *covered_set,
            literal(None, DateTime(timezone=True)).label("sent_at"),
        )
        .join(current, current.c.mis_id == whole_sets_landing.c.mis_pupil_id)
        .where(whole_sets_landing.c.batch_id == batch_id)
    )
    record = quarantine.c.record
    quarantined_set = [record[c].as_string().label(c) for c in spec.whole_per]
    spoilt = (
        select(current.c.upn, *quarantined_set)
        .join(current, current.c.mis_id == record["mis_pupil_id"].as_string())
        .where(quarantine.c.batch_id == batch_id)
        .subquery("spoilt")
    )
    untouched = (
        select(literal(1))
        .select_from(spoilt)
        .where(spoilt.c.upn == target.c.upn, *(spoilt.c[c] == target.c[c] for c in spec.whole_per))
        .exists()
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
            ~untouched,
            not_older(sets.c.sent_at, target.c.source_updated_at),
        )
        .values(withdrawn_at=func.now(), batch_id=batch_id, published_at=func.now())
    )
    withdrawn = int(conn.execute(statement).rowcount or 0)
    conn.execute(whole_sets_landing.delete().where(whole_sets_landing.c.batch_id == batch_id))
    return withdrawn
