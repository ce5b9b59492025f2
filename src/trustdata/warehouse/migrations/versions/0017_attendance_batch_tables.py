"""Each attendance batch stages its marks in a table of its own.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27

``staging.attendance_landing`` stays as the shape every batch's table copies
(``trustdata.pipeline.staging``) and holds no rows. Marks of batches landed before this
revision and not yet published move into their batches' own tables, so they can still be
audited and published; downgrading moves any batch tables' rows back.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_SHARED = "staging.attendance_landing"


def upgrade() -> None:
    """Apply this revision."""
    conn = op.get_bind()
    # Every name below is this module's constant, a UUID's hex digits, or a catalog name
    # matching ^attendance_landing_[0-9a-f]{32}$: nothing from outside.
    waiting = conn.execute(text(f"SELECT DISTINCT batch_id FROM {_SHARED}")).scalars().all()  # noqa: S608
    for batch_id in waiting:
        name = f'staging."attendance_landing_{batch_id.hex}"'
        conn.execute(text(f"CREATE UNLOGGED TABLE {name} (LIKE {_SHARED} INCLUDING DEFAULTS)"))
        conn.execute(
            text(f"INSERT INTO {name} SELECT * FROM {_SHARED} WHERE batch_id = :b"),  # noqa: S608
            {"b": batch_id},
        )
    conn.execute(text(f"TRUNCATE {_SHARED}"))


def downgrade() -> None:
    """Revert this revision."""
    conn = op.get_bind()
    names = conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'staging' "
            "AND tablename ~ '^attendance_landing_[0-9a-f]{32}$'"
        )
    ).scalars()
    for table in list(names):
        conn.execute(text(f'INSERT INTO {_SHARED} SELECT * FROM staging."{table}"'))  # noqa: S608
        conn.execute(text(f'DROP TABLE staging."{table}"'))
