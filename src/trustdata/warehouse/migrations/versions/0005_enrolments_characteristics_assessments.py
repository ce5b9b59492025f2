"""Enrolments, characteristic periods, assessment results and attendance summaries.

Each has a staging (landing) table and a raw table keyed by UPN, as ``tables.py`` describes.
Enrolments and characteristic periods are sent whole per pupil, so a row a later batch no
longer holds is marked ``withdrawn_at`` rather than deleted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LANDING = ("enrolments", "characteristics", "assessments", "attendance_summaries")
_RAW = ("enrolments", "characteristic_periods", "assessment_results", "attendance_summaries")


def _landing(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        f"{name}_landing",
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("academy_id", sa.Text(), nullable=False),
        sa.Column("mis_pupil_id", sa.Text(), nullable=False),
        *columns,
        sa.Column("source_updated_at", sa.DateTime(timezone=True)),
        schema="staging",
        prefixes=["UNLOGGED"],
    )
    op.create_index(
        f"ix_staging_{name}_landing_batch_id", f"{name}_landing", ["batch_id"], schema="staging"
    )


def _raw(name: str, keys: list[sa.Column[Any]], *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("academy_id", sa.Text(), primary_key=True),
        sa.Column("upn", sa.Text(), primary_key=True),
        *keys,
        *columns,
        sa.Column("mis_id", sa.Text(), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True)),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column(
            "published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="raw",
    )


def upgrade() -> None:
    """Apply this revision."""
    _landing(
        "enrolments",
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("registration", sa.Text()),
    )
    _landing(
        "characteristics",
        sa.Column("characteristic", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
    )
    _landing(
        "assessments",
        sa.Column("key_stage", sa.Text(), nullable=False),
        sa.Column("assessment_year", sa.SmallInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("component", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
    )
    _landing(
        "attendance_summaries",
        sa.Column("academic_year_start", sa.SmallInteger(), nullable=False),
        sa.Column("school_laestab", sa.Text(), nullable=False),
        sa.Column("sessions_possible", sa.Integer(), nullable=False),
        sa.Column("sessions_authorised", sa.Integer(), nullable=False),
        sa.Column("sessions_attended", sa.Integer(), nullable=False),
        sa.Column("sessions_unauthorised", sa.Integer(), nullable=False),
    )
    _raw(
        "enrolments",
        [sa.Column("start_date", sa.Date(), primary_key=True)],
        sa.Column("end_date", sa.Date()),
        sa.Column("registration", sa.Text()),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
    )
    _raw(
        "characteristic_periods",
        [
            sa.Column("characteristic", sa.Text(), primary_key=True),
            sa.Column("start_date", sa.Date(), primary_key=True),
        ],
        sa.Column("end_date", sa.Date()),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
    )
    _raw(
        "assessment_results",
        [
            sa.Column("key_stage", sa.Text(), primary_key=True),
            sa.Column("assessment_year", sa.SmallInteger(), primary_key=True),
            sa.Column("subject", sa.Text(), primary_key=True),
            sa.Column("method", sa.Text(), primary_key=True),
            sa.Column("component", sa.Text(), primary_key=True),
        ],
        sa.Column("result", sa.Text(), nullable=False),
    )
    _raw(
        "attendance_summaries",
        [
            sa.Column("academic_year_start", sa.SmallInteger(), primary_key=True),
            sa.Column("school_laestab", sa.Text(), primary_key=True),
        ],
        sa.Column("sessions_possible", sa.Integer(), nullable=False),
        sa.Column("sessions_authorised", sa.Integer(), nullable=False),
        sa.Column("sessions_attended", sa.Integer(), nullable=False),
        sa.Column("sessions_unauthorised", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    for name in _RAW:
        op.drop_table(name, schema="raw")
    for name in _LANDING:
        op.drop_table(f"{name}_landing", schema="staging")
