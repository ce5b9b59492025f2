"""The outbox of MIS events: stored durably on receipt, then relayed to Airflow as asset events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "mis_events",
        sa.Column("outbox_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        schema="meta",
    )
    op.create_index(
        "uq_mis_events_academy_event",
        "mis_events",
        ["academy_id", "event_id"],
        unique=True,
        schema="meta",
    )
    op.create_index(
        "ix_mis_events_due",
        "mis_events",
        ["next_attempt_at"],
        schema="meta",
        postgresql_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("mis_events", schema="meta")
