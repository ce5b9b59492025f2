"""Indexes the incremental attendance fact reads raw marks by.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26

An incremental dbt run finds the marks published or superseded since its watermark and
reads every mark of the (academy, date) partitions they touch. Without these indexes each of
those steps scans the whole of raw.attendance_marks (27 million rows for a year of a 70,000
pupil trust). All three are on columns with few distinct values, so B-tree deduplication
keeps them small.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_raw_attendance_marks_published_at",
        "attendance_marks",
        ["published_at"],
        schema="raw",
    )
    op.create_index(
        "ix_raw_attendance_marks_academy_date",
        "attendance_marks",
        ["academy_id", "mark_date"],
        schema="raw",
    )
    op.create_index(
        "ix_raw_attendance_marks_superseded_at",
        "attendance_marks_superseded",
        ["superseded_at"],
        schema="raw",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(
        "ix_raw_attendance_marks_superseded_at",
        table_name="attendance_marks_superseded",
        schema="raw",
    )
    op.drop_index(
        "ix_raw_attendance_marks_academy_date", table_name="attendance_marks", schema="raw"
    )
    op.drop_index(
        "ix_raw_attendance_marks_published_at", table_name="attendance_marks", schema="raw"
    )
