"""Read API clients, their tokens, and the log of pupil-level reads.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    now = sa.func.now()
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.Text(), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("scopes", ARRAY(sa.Text()), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False, unique=True),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema="meta",
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Text(), primary_key=True),
        sa.Column("client_id", sa.Text(), nullable=False, index=True),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema="meta",
    )
    op.create_table(
        "api_access_log",
        sa.Column("access_id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        schema="meta",
    )
    op.create_index(
        "ix_api_access_log_client_at", "api_access_log", ["client_id", "at"], schema="meta"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_api_access_log_client_at", table_name="api_access_log", schema="meta")
    op.drop_table("api_access_log", schema="meta")
    op.drop_table("api_tokens", schema="meta")
    op.drop_table("api_clients", schema="meta")
