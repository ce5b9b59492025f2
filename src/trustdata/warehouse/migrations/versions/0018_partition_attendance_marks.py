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

import logging

from alembic import op
from sqlalchemy import text

from trustdata.warehouse.partitions import leaf_name, year_bounds

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_TABLE = "raw.attendance_marks"
# The definitions as of this revision (not read from tables.py, which may move on).
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


def _drop_dependent_views(table: str) -> None:
    """Drop the views reading ``table`` (dbt's staging views; dbt makes them again).

    A view follows its table through a rename, so it would stop the old table being dropped.
    """
    conn = op.get_bind()
    views = conn.execute(
        text(
            "SELECT DISTINCT format('%I.%I', n.nspname, v.relname) FROM pg_depend AS d "
            "JOIN pg_rewrite AS r ON r.oid = d.objid JOIN pg_class AS v ON v.oid = r.ev_class "
            "JOIN pg_namespace AS n ON n.oid = v.relnamespace "
            "WHERE d.refobjid = CAST(:t AS regclass) AND v.oid <> d.refobjid"
        ),
        {"t": table},
    ).scalars()
    names = sorted(views)
    if names:
        # The views that read these go with them; the next warehouse build makes them all.
        conn.execute(text(f"DROP VIEW IF EXISTS {', '.join(names)} CASCADE"))
        log.warning(
            "dropped %d views over %s; the next dbt build makes them again", len(names), table
        )


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
    _drop_dependent_views(_TABLE)
    old = _rename_away("before_0018")
    conn.execute(
        text(
            f"CREATE TABLE {_TABLE} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (academy_id, mark_date)"
        )
    )
    _create_indexes(_TABLE)
    years = conn.execute(
        text(
            "SELECT DISTINCT academy_id, "  # noqa: S608
            "CAST(extract(year FROM mark_date - interval '8 months') AS int) "
            f"FROM {old} ORDER BY 1, 2"
        )
    ).all()
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for academy_id, year in years:
        start, end = year_bounds(year)
        leaf = f'raw."{leaf_name(academy_id, year)}"'
        conn.execute(
            text(f"CREATE TABLE {leaf} (LIKE {_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        conn.execute(
            text(
                f"INSERT INTO {leaf} SELECT * FROM {old} WHERE academy_id = :a "  # noqa: S608
                "AND mark_date >= :s AND mark_date < :e ORDER BY upn, mark_date, session"
            ),
            {"a": academy_id, "s": start, "e": end},
        )
        # Attaching builds the partition's key and indexes (each in one sorted pass). The
        # bounds are literals: DDL takes no parameters.
        bounds = conn.execute(
            text(
                "SELECT format('FROM (%L, %L) TO (%L, %L)', CAST(:a AS text), CAST(:s AS text), "
                "CAST(:a AS text), CAST(:e AS text))"
            ),
            {"a": academy_id, "s": start.isoformat(), "e": end.isoformat()},
        ).scalar_one()
        conn.exec_driver_sql(f"ALTER TABLE {_TABLE} ATTACH PARTITION {leaf} FOR VALUES {bounds}")
    conn.execute(text(f"DROP TABLE {old}"))


def downgrade() -> None:
    """Revert this revision."""
    conn = op.get_bind()
    _drop_dependent_views(_TABLE)
    conn.execute(
        text(
            "CREATE TABLE raw.attendance_marks_after_0018 "
            f"(LIKE {_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    )
    conn.execute(text(f"INSERT INTO raw.attendance_marks_after_0018 SELECT * FROM {_TABLE}"))  # noqa: S608
    conn.execute(text(f"DROP TABLE {_TABLE}"))
    conn.execute(text("ALTER TABLE raw.attendance_marks_after_0018 RENAME TO attendance_marks"))
    _create_indexes(_TABLE)
