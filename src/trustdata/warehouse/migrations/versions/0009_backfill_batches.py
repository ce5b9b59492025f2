"""Backfill batches: the academic year's dates a batch was landed for.

A backfill re-reads one academic year without moving the stream's incremental watermark.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("batches", sa.Column("backfill_from", sa.Date()), schema="meta")
    op.add_column("batches", sa.Column("backfill_to", sa.Date()), schema="meta")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("batches", "backfill_to", schema="meta")
    op.drop_column("batches", "backfill_from", schema="meta")
