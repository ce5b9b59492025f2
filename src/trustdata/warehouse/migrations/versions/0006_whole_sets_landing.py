"""Sets a batch holds whole, even when empty (``Page.covers``).

A pupil whose FSM history is now empty sends no period rows, so the batch records the set it
covers instead, and publish withdraws the pupil's stored periods.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "whole_sets_landing",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("mis_pupil_id", sa.Text(), nullable=False),
        sa.Column("set_key", sa.Text(), nullable=False),
        schema="staging",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        "ix_staging_whole_sets_landing_batch_id",
        "whole_sets_landing",
        ["batch_id"],
        schema="staging",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("whole_sets_landing", schema="staging")
