"""Failed tasks, recorded by the DAGs' failure callback (and announced when configured).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "run_failures",
        sa.Column("failure_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("try_number", sa.Integer()),
        sa.Column("academy_id", sa.Text()),
        sa.Column("stream", sa.Text()),
        sa.Column("error_class", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="meta",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("run_failures", schema="meta")
