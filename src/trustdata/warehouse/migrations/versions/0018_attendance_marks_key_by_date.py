"""Key raw.attendance_marks by (academy, date, UPN, session), in place of (academy, UPN, ...).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27

A batch publishes an academy's marks for a run of dates; with the date leading the key, its
rows go into the key in order, and the key also serves every read by (academy, date range)
(the incremental attendance fact, the enrolled-on-date check), so the separate
``(academy_id, mark_date)`` index goes. Measured on one secondary academy's year (421,784
marks, PostgreSQL 15): the publish's insert 2.2 s -> 1.6 s. The key's columns and what it
makes unique are unchanged. Rebuilding the key of a whole trust's marks takes about a minute
for 27 million marks and locks the table meanwhile.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TABLE = "attendance_marks"
_KEY = "attendance_marks_pkey"
_BY_DATE = "ix_raw_attendance_marks_academy_date"


def upgrade() -> None:
    """Apply this revision."""
    op.drop_index(_BY_DATE, table_name=_TABLE, schema="raw")
    op.drop_constraint(_KEY, _TABLE, schema="raw", type_="primary")
    op.create_primary_key(_KEY, _TABLE, ["academy_id", "mark_date", "upn", "session"], schema="raw")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(_KEY, _TABLE, schema="raw", type_="primary")
    op.create_primary_key(_KEY, _TABLE, ["academy_id", "upn", "mark_date", "session"], schema="raw")
    op.create_index(_BY_DATE, _TABLE, ["academy_id", "mark_date"], schema="raw")
