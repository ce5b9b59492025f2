"""Great Expectations results per batch, per check, and the SQL UPN check.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: True when ``upn`` has the DfE's shape and check letter (``trustdata.domain.upn`` in SQL):
#: the letter is the 23-letter alphabet at (sum of each later character's value times its
#: position, 2-13) mod 23, a letter in position 13 counting as its place in the alphabet.
UPN_IS_VALID = r"""
CREATE OR REPLACE FUNCTION meta.upn_is_valid(upn text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT upn ~ '^[ABCDEFGHJKLMNPQRTUVWXYZ][0-9]{11}[0-9ABCDEFGHJKLMNPQRTUVWXYZ]$'
   AND substr(upn, 1, 1) = substr(
       'ABCDEFGHJKLMNPQRTUVWXYZ',
       (SELECT sum(CASE WHEN substr(upn, i, 1) ~ '[0-9]' THEN substr(upn, i, 1)::int
                        ELSE strpos('ABCDEFGHJKLMNPQRTUVWXYZ', substr(upn, i, 1)) - 1 END * i)
        FROM generate_series(2, 13) AS i)::int % 23 + 1,
       1)
$$
"""


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "validations",
        sa.Column("batch_id", sa.Uuid(), primary_key=True),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("suite", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("checks_run", sa.Integer(), nullable=False),
        sa.Column("checks_failed", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column(
            "validated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="meta",
    )
    op.create_index(
        "ix_validations_academy_stream", "validations", ["academy_id", "stream"], schema="meta"
    )
    op.create_table(
        "validation_checks",
        sa.Column("batch_id", sa.Uuid(), primary_key=True),
        sa.Column("check_name", sa.Text(), primary_key=True),
        sa.Column("expectation_type", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("unexpected_count", sa.BigInteger()),
        sa.Column("element_count", sa.BigInteger()),
        sa.Column("reason", sa.Text(), nullable=False),
        schema="meta",
    )
    op.execute(UPN_IS_VALID)


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DROP FUNCTION IF EXISTS meta.upn_is_valid(text)")
    op.drop_table("validation_checks", schema="meta")
    op.drop_index("ix_validations_academy_stream", table_name="validations", schema="meta")
    op.drop_table("validations", schema="meta")
