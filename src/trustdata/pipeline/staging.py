"""Where a batch's rows wait between landing and publishing.

Marks, the bulk of every extract, land in a table of their own per batch
(``staging.attendance_landing_<batch hex>``, shaped like ``staging.attendance_landing``): the
COPY writes a fresh table with no index to keep up and no other batch's rows to step over;
audit and publish read only that batch's pages; publishing or discarding the batch drops the
table, inside the same transaction, instead of deleting a quarter of a million rows from a
shared table that would then need vacuuming. The other streams are small and share one
landing table each, keyed by ``batch_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Column, Connection, MetaData, Table, text

from trustdata.adapters.base import Stream
from trustdata.warehouse.migrate import drop_validation_views
from trustdata.warehouse.sql import sql_literal
from trustdata.warehouse.tables import attendance_landing

#: Streams whose batches each land in a table of their own.
OWN_TABLE = frozenset({Stream.ATTENDANCE})


def batch_table_name(batch_id: uuid.UUID) -> str:
    """The name, in ``staging``, of an attendance batch's own table."""
    return f"{attendance_landing.name}_{batch_id.hex}"


def attendance_batch(batch_id: uuid.UUID) -> Table:
    """An attendance batch's own staging table (``attendance_landing``'s columns)."""
    return Table(
        batch_table_name(batch_id),
        MetaData(),
        *(Column(c.name, c.type, nullable=c.nullable) for c in attendance_landing.columns),
        schema=attendance_landing.schema,
    )


def create_sql(batch_id: uuid.UUID, academy_id: str) -> tuple[str, str]:
    """SQL creating an attendance batch's own table, its batch id and academy as defaults.

    Unlogged, as the shared landing tables are: staged rows are re-read from the MIS after a
    crash, never recovered. Run in the transaction that fills it, so a landing that fails
    leaves no table behind, and a COPY in that transaction may write its rows frozen. Every
    row of the table has the same batch id and academy, so a COPY need not send them.
    """
    table = f'{attendance_landing.schema}."{batch_table_name(batch_id)}"'
    return (
        f"CREATE UNLOGGED TABLE {table} "
        f"(LIKE {attendance_landing.schema}.{attendance_landing.name} INCLUDING DEFAULTS)",
        f"ALTER TABLE {table} ALTER COLUMN batch_id SET DEFAULT '{batch_id}', "
        f"ALTER COLUMN academy_id SET DEFAULT {sql_literal(academy_id)}",
    )


def create_batch_table(
    conn: Connection, stream: Stream, batch_id: uuid.UUID, academy_id: str
) -> None:
    """Create the batch's own table, when its stream has one (a no-op otherwise)."""
    if stream in OWN_TABLE:
        for statement in create_sql(batch_id, academy_id):
            conn.execute(text(statement))


def drop_batch_tables(conn: Connection, stream: Stream, batch_ids: Iterable[uuid.UUID]) -> None:
    """Drop the batches' own tables (and any validation view a killed audit left on one)."""
    if stream not in OWN_TABLE:
        return
    for batch_id in batch_ids:
        drop_validation_views(conn, batch_id.hex)
        conn.execute(
            text(f'DROP TABLE IF EXISTS {attendance_landing.schema}."{batch_table_name(batch_id)}"')
        )
