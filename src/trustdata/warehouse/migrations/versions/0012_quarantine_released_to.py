"""Quarantined rows released back through audit and publish: the batch they went to.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("quarantine", sa.Column("released_to", sa.Uuid()), schema="meta")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("quarantine", "released_to", schema="meta")
