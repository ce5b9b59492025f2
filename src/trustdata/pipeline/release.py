"""Release quarantined rows: send them through audit and publish again, once fixed.

Some rows fail for a reason fixed outside the row: a mark, result or summary for a pupil the
academy's published roll did not hold yet (``pupil_known``) passes once the roll has them. The
MIS does not send such a row again (it did not change), so an incremental sync never retries
it. ``release`` lands an academy's unreleased warn-level quarantined rows of one stream (of
some checks, or all) as a new batch, source ``quarantine``, which is audited and published like
any other: rows that still fail are quarantined again under the new batch, the rest publish
(never over a newer stored row). The released quarantine rows keep their record, marked with
``released_at`` and ``released_to`` (the new batch). The batch moves no watermark.

Enrolments and characteristic periods are sent whole per pupil, so a row of one is not
released alone (it would withdraw the rest of its set): re-read the academy instead.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, func, insert, select, text, update

from trustdata.adapters.base import Stream
from trustdata.pipeline.batches import BatchStatus
from trustdata.pipeline.land import LANDING, staged_table
from trustdata.pipeline.staging import create_batch_table
from trustdata.warehouse.tables import batches, quarantine

#: Streams whose quarantined rows can be released one by one.
RELEASABLE = (Stream.ATTENDANCE, Stream.ASSESSMENTS, Stream.ATTENDANCE_SUMMARIES)


class NotReleasable(ValueError):
    """The stream's rows cannot be released one by one; the message says what to do."""


def release(
    engine: Engine, *, academy_id: str, stream: Stream, checks: list[str] | None = None
) -> tuple[uuid.UUID | None, int]:
    """Land the academy's unreleased quarantined rows of ``stream`` as a new batch.

    Returns the new batch's id and its row count, or (None, 0) when nothing is waiting. Only
    rows of warn-level checks are released (an error blocks its whole batch, which a new read
    replaces); ``checks`` narrows them to those checks.
    """
    if stream not in RELEASABLE:
        raise NotReleasable(
            f"{stream.value} rows are sent whole per pupil and cannot be released one by one: "
            "fix the source, then re-read the academy (trustdata sync ACADEMY --full)"
        )
    waiting = [
        quarantine.c.academy_id == academy_id,
        quarantine.c.stream == stream.value,
        quarantine.c.severity == "warn",
        quarantine.c.released_at.is_(None),
    ]
    if checks:
        waiting.append(quarantine.c.check_name.in_(checks))
    batch_id = uuid.uuid4()
    table = staged_table(stream, batch_id)
    row_type = LANDING[stream][0]
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                select(quarantine.c.quarantine_id)
                .where(*waiting)
                .order_by(quarantine.c.quarantine_id)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return None, 0
        conn.execute(
            insert(batches).values(
                batch_id=batch_id,
                academy_id=academy_id,
                stream=stream.value,
                source="quarantine",
                status=BatchStatus.LANDED,
                # Not a full read: nothing is judged missing from it.
                updated_after=func.now(),
                rows_landed=len(ids),
                message=f"{len(ids)} quarantined rows released",
            )
        )
        create_batch_table(conn, stream, batch_id, academy_id)
        # Each record is the staged row as it was quarantined; it lands as a row of this batch.
        names = [f'"{c.name}"' for c in table.columns]
        target = f'"{table.schema}"."{table.name}"'
        shape = f'"{row_type.schema}"."{row_type.name}"'
        # Identifiers are the pipeline's own table and column names, never input.
        statement = (
            f"INSERT INTO {target} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join('r.' + n for n in names)} FROM meta.quarantine q, "
            f"LATERAL jsonb_populate_record(NULL::{shape}, q.record::jsonb || "
            "jsonb_build_object('batch_id', CAST(:batch AS text))) AS r "
            "WHERE q.quarantine_id = ANY(:ids)"
        )
        conn.execute(
            text(statement),
            {"batch": str(batch_id), "ids": ids},
        )
        conn.execute(
            update(quarantine)
            .where(quarantine.c.quarantine_id.in_(ids))
            .values(released_at=func.now(), released_to=batch_id)
        )
    return batch_id, len(ids)
