"""Explicit deletions: a landing table, raw.deletions, and raw.pupils.deleted_at.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "deletions_landing",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("mis_id", sa.Text(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        schema="staging",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        op.f("ix_staging_deletions_landing_batch_id"),
        "deletions_landing",
        ["batch_id"],
        schema="staging",
    )
    op.create_table(
        "deletions",
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("mis_id", sa.Text(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("academy_id", "object_type", "mis_id"),
        schema="raw",
    )
    op.add_column(
        "pupils", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True), schema="raw"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("pupils", "deleted_at", schema="raw")
    op.drop_table("deletions", schema="raw")
    op.drop_index(
        op.f("ix_staging_deletions_landing_batch_id"),
        table_name="deletions_landing",
        schema="staging",
    )
    op.drop_table("deletions_landing", schema="staging")
