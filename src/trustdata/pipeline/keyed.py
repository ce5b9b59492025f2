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

from trustdata.pipeline.streams import PupilKeyedStream
from trustdata.warehouse.tables import pupils, whole_sets_landing


def newer_and_different(
    target: Table, excluded: ReadOnlyColumnCollection[str, Any], columns: list[str]
) -> ColumnElement[bool]:
    """Upsert guard: the incoming row differs and is not older than the stored one."""
    changed = or_(*(target.c[c].is_distinct_from(excluded[c]) for c in columns))
    newer = or_(
        target.c.source_updated_at.is_(None),
        excluded["source_updated_at"] >= target.c.source_updated_at,
    )
    return and_(changed, newer)


def publish_pupil_keyed(conn: Connection, spec: PupilKeyedStream, batch_id: uuid.UUID) -> int:
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
        where=newer_and_different(target, statement.excluded, compared),
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
