"""Change-log cursors beside timestamp watermarks (Arbor's revision numbers, say).

A source may give a position in its change history instead of timestamps, so a stored
position is a timestamp, a cursor, or both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("batches", sa.Column("cursor_before", sa.Text(), nullable=True), schema="meta")
    op.add_column("batches", sa.Column("cursor_after", sa.Text(), nullable=True), schema="meta")
    op.add_column("watermarks", sa.Column("cursor", sa.Text(), nullable=True), schema="meta")
    op.alter_column("watermarks", "watermark", nullable=True, schema="meta")


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DELETE FROM meta.watermarks WHERE watermark IS NULL")
    op.alter_column("watermarks", "watermark", nullable=False, schema="meta")
    op.drop_column("watermarks", "cursor", schema="meta")
    op.drop_column("batches", "cursor_after", schema="meta")
    op.drop_column("batches", "cursor_before", schema="meta")
