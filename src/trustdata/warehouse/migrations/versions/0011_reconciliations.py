"""Reconciliations: a full read of an academy's stream compared with what is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "reconciliations",
        sa.Column("reconciliation_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("mis_rows", sa.Integer(), nullable=False),
        sa.Column("stored_rows", sa.Integer(), nullable=False),
        sa.Column("missing_in_mis", sa.Integer(), nullable=False),
        sa.Column("missing_in_warehouse", sa.Integer(), nullable=False),
        sa.Column("restored", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column(
            "reconciled_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        schema="meta",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("reconciliations", schema="meta")
