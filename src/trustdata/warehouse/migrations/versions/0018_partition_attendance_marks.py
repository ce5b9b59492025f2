"""raw.attendance_marks is partitioned by academy and academic year.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27

One partition per (academy, academic year), by range of (academy_id, mark_date), so that a
backfill of a year not yet held builds its partition's indexes in one sorted pass each
instead of inserting every mark into them (``trustdata.warehouse.partitions``). The marks
already stored move into their partitions, their published_at and batch ids unchanged; this
reads and writes every stored mark once (a few minutes for a large trust's year). Downgrading
moves them back into one table.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, MetaData, Table, select, text

from trustdata.warehouse.partitions import build_leaf, year_bounds
from trustdata.warehouse.tables import attendance_marks

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TABLE = "raw.attendance_marks"
_INDEXES = {
    "ix_raw_attendance_marks_published_at": "published_at",
    "ix_raw_attendance_marks_academy_date": "academy_id, mark_date",
}
_KEY = "academy_id, upn, mark_date, session"


def _create_indexes(table: str) -> None:
    conn = op.get_bind()
    conn.execute(
        text(f"ALTER TABLE {table} ADD CONSTRAINT attendance_marks_pkey PRIMARY KEY ({_KEY})")
    )
    for name, columns in _INDEXES.items():
        conn.execute(text(f"CREATE INDEX {name} ON {table} ({columns})"))


def _rename_away(suffix: str) -> str:
    """Rename raw.attendance_marks and its indexes out of the way; return its new name."""
    conn = op.get_bind()
    conn.execute(text(f"ALTER TABLE {_TABLE} RENAME TO attendance_marks_{suffix}"))
    for name in ("attendance_marks_pkey", *_INDEXES):
        conn.execute(text(f"ALTER INDEX raw.{name} RENAME TO {name}_{suffix}"))
    return f"raw.attendance_marks_{suffix}"


def upgrade() -> None:
    """Apply this revision."""
    conn = op.get_bind()
    old = _rename_away("before_0018")
    conn.execute(
        text(
            f"CREATE TABLE {_TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (academy_id, mark_date)"
        )
    )
    _create_indexes(_TABLE)
    stored = Table(
        "attendance_marks_before_0018",
        MetaData(),
        *(Column(c.name, c.type) for c in attendance_marks.columns),
        schema="raw",
    )
    years = conn.execute(
        text(
            f"SELECT DISTINCT academy_id, CAST(extract(year FROM mark_date - interval '8 months') AS int) "  # noqa: S608
            f"FROM {old} ORDER BY 1, 2"
        )
    ).all()
    columns = [c.name for c in attendance_marks.columns]
    for academy_id, year in years:
        start, end = year_bounds(year)
        rows = (
            select(*(stored.c[c] for c in columns))
            .where(
                stored.c.academy_id == academy_id,
                stored.c.mark_date >= start,
                stored.c.mark_date < end,
            )
            .order_by(stored.c.upn, stored.c.mark_date, stored.c.session)
        )
        build_leaf(conn, academy_id, year, columns, rows)
    conn.execute(text(f"DROP TABLE {old}"))


def downgrade() -> None:
    """Revert this revision."""
    conn = op.get_bind()
    conn.execute(
        text(
            f"CREATE TABLE raw.attendance_marks_after_0018 (LIKE {_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    )
    conn.execute(text(f"INSERT INTO raw.attendance_marks_after_0018 SELECT * FROM {_TABLE}"))  # noqa: S608
    conn.execute(text(f"DROP TABLE {_TABLE}"))
    conn.execute(text("ALTER TABLE raw.attendance_marks_after_0018 RENAME TO attendance_marks"))
    _create_indexes(_TABLE)
