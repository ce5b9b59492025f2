"""Record which MIS source a batch and a watermark came from.

A watermark is a position in one MIS's change history. When an academy changes MIS (or its
school id), the old position means nothing to the new source, so the next sync must be a full
pull: reads compare the stored source with the academy's current one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("batches", sa.Column("source", sa.Text(), nullable=True), schema="meta")
    op.add_column("watermarks", sa.Column("source", sa.Text(), nullable=True), schema="meta")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("watermarks", "source", schema="meta")
    op.drop_column("batches", "source", schema="meta")
