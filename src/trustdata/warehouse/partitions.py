"""``raw.attendance_marks`` is partitioned by academy and academic year.

Each (academy, academic year) of marks is a table of its own, a partition of
``raw.attendance_marks`` by range of (academy_id, mark_date): from (academy, 1 September) to
(academy, the next 1 September). Queries read the parent as before; a query naming one academy
reads only its partitions.

Why: a backfill of a year not yet held (a new academy, or a past year loaded on request) is
most of what a trust's first load writes. Inserted into one table with three B-tree indexes,
each mark costs an index insertion per index; built as a table of its own, the indexes are
built once, sorted, after the rows are in, and the table is then attached (measured on a
secondary's year, 421,784 marks: 5.8 s -> 3.1 s). Later batches of that year upsert through
the parent as before.

A partition is named ``attendance_marks_<academy id>_<year>``, the year being the one the
academic year starts in. The name is how the pipeline finds a partition, so it never changes;
an academy id that would not make a plain name (longer than 40 characters; the config allows
41, and only lower-case letters, digits and ``_``) is named by its hash instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Select, Table, text

from trustdata.warehouse.sql import sql_literal
from trustdata.warehouse.tables import attendance_marks

PARENT = f"{attendance_marks.schema}.{attendance_marks.name}"

#: The partitions' names, as the catalog lists them (``raw`` is their schema).
LEAF = re.compile(r"attendance_marks_(?:[a-z][a-z0-9_]{1,39}|h[0-9a-f]{16})_\d{4}")

_PLAIN_ID = re.compile(r"[a-z][a-z0-9_]{1,39}")


def year_of(day: date) -> int:
    """The year the academic year holding ``day`` starts in (1 September to 31 August)."""
    return day.year if day.month >= 9 else day.year - 1


def year_bounds(year: int) -> tuple[date, date]:
    """The first day of academic year ``year`` and the first day of the next (exclusive)."""
    return date(year, 9, 1), date(year + 1, 9, 1)


def years_between(first: date, last: date) -> list[int]:
    """Every academic year from the one holding ``first`` to the one holding ``last``."""
    return list(range(year_of(first), year_of(last) + 1))


def leaf_name(academy_id: str, year: int) -> str:
    """The name (in ``raw``) of the academy's partition for academic year ``year``.

    At most 62 characters, one under PostgreSQL's limit: the table's array type is named
    ``_`` and the table's name, cut at 63, and two partitions whose array types were cut to
    the same name could not be made at once. ``attendance_marks_`` is 17, ``_yyyy`` 5, so an
    academy id of up to 40 characters is used as it is; a longer one, or one with other
    characters, by its hash.
    """
    if not 1000 <= year <= 9999:
        raise ValueError(f"academic year {year} is out of range")
    if _PLAIN_ID.fullmatch(academy_id):
        return f"{attendance_marks.name}_{academy_id}_{year}"
    digest = hashlib.sha256(academy_id.encode()).hexdigest()[:16]
    return f"{attendance_marks.name}_h{digest}_{year}"


def _qualified(academy_id: str, year: int) -> str:
    return f'{attendance_marks.schema}."{leaf_name(academy_id, year)}"'


def _leaf_table(academy_id: str, year: int) -> Table:
    return Table(
        leaf_name(academy_id, year),
        MetaData(),
        *(Column(c.name, c.type) for c in attendance_marks.columns),
        schema=attendance_marks.schema,
    )


def leaf_exists(conn: Connection, academy_id: str, year: int) -> bool:
    """Whether the academy's partition for ``year`` exists (committed, or made by ``conn``)."""
    found = conn.execute(
        text("SELECT to_regclass(:name)"), {"name": _qualified(academy_id, year)}
    ).scalar()
    return found is not None


def lock_years(conn: Connection, academy_id: str, years: Sequence[int]) -> None:
    """Hold, until ``conn``'s transaction ends, the right to make the academy's partitions.

    Two publishes of one academy (a backfill and the daily run) may both find a year's
    partition missing; the second waits here until the first has committed (or rolled back),
    and then finds it.
    """
    for year in sorted(years):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(7316003, hashtext(:key))"),
            {"key": f"{academy_id}/{year}"},
        )


def empty_leaf_sql(academy_id: str, year: int) -> str:
    """SQL making the academy's partition for ``year``, empty, as a partition from the start.

    For loading marks in bulk outside the pipeline (the benchmarks): it locks the parent
    against every reader while it runs, where ``build_leaf`` does not.
    """
    return f"CREATE TABLE {_qualified(academy_id, year)} PARTITION OF {PARENT} {_bounds(academy_id, year)}"


def _bounds(academy_id: str, year: int) -> str:
    """The partition's bounds, as literals: DDL takes no parameters."""
    start, end = year_bounds(year)
    academy = sql_literal(academy_id)
    return f"FOR VALUES FROM ({academy}, '{start}') TO ({academy}, '{end}')"


def _index_stem(academy_id: str, year: int) -> str:
    """A short stem for a partition's index names, unique per academy and year.

    PostgreSQL would name them after the table, cut to 63 characters (losing the year for a
    long academy id); two publishes building different years of one academy at once would
    then pick the same name and the second would fail.
    """
    return f"am_{hashlib.sha256(academy_id.encode()).hexdigest()[:12]}_{year}"


def build_leaf(
    conn: Connection, academy_id: str, year: int, columns: Sequence[str], rows: Select[Any]
) -> int:
    """Make the academy's partition for ``year`` from ``rows``, not yet attached; return its rows.

    ``rows`` gives ``columns`` of ``raw.attendance_marks`` (the rest take their defaults) and
    holds only marks of this academy and year. The table is filled before it has any index;
    its primary key and indexes are then built, each in one sorted pass, to the parent's
    definitions, so attaching it (``attach_leaf``) adopts them rather than building more. A
    year with no rows makes no table (and returns 0). Run inside the publishing transaction,
    after ``lock_years``: until it commits no one else sees the table, and a rollback leaves
    nothing behind.
    """
    leaf = _qualified(academy_id, year)
    conn.execute(
        text(f"CREATE TABLE {leaf} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    inserted = int(
        conn.execute(
            _leaf_table(academy_id, year).insert().from_select(list(columns), rows)
        ).rowcount
        or 0
    )
    if not inserted:
        conn.execute(text(f"DROP TABLE {leaf}"))
        return 0
    # The sorts of the index builds run in memory (a secondary's year is 400,000 marks), and
    # in this process alone: parallel workers finish one build sooner but spend more CPU in
    # all (measured: about a sixth more for the two builds of such a year), and publishes of
    # other academies run beside this one for the same few cores.
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    conn.exec_driver_sql("SET LOCAL max_parallel_maintenance_workers = 0")
    stem = _index_stem(academy_id, year)
    key = ", ".join(attendance_marks.primary_key.columns.keys())
    conn.execute(text(f"ALTER TABLE {leaf} ADD CONSTRAINT {stem}_pkey PRIMARY KEY ({key})"))
    for number, index in enumerate(sorted(attendance_marks.indexes, key=lambda i: str(i.name))):
        names = ", ".join(c.name for c in index.columns)
        conn.execute(text(f"CREATE INDEX {stem}_ix{number} ON {leaf} ({names})"))
    return inserted


def attach_leaf(conn: Connection, academy_id: str, year: int) -> None:
    """Attach the partition ``build_leaf`` made.

    The attach checks every row against the bounds (one scan of a table just written) and
    then holds, until the transaction ends, the lock that keeps other attaches (and ANALYZE)
    of the parent waiting: so it comes last in a publish.
    """
    # Sent as it is: no placeholders to fill.
    conn.exec_driver_sql(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {_qualified(academy_id, year)} "
        + _bounds(academy_id, year)
    )


#: The parent's statistics are refreshed once the partitions' rows differ from the count they
#: were taken at by this share (autovacuum's own rule for a table's ANALYZE).
PARENT_ANALYZE_SHARE = 0.1
PARENT_ANALYZE_THRESHOLD = 50


def refresh_parent_statistics(conn: Connection) -> bool:
    """ANALYZE ``raw.attendance_marks`` as a whole when its statistics are missing or stale.

    A query that reads every academy's marks (the warehouse build's) is planned on the
    parent's statistics, over all partitions; a query naming one academy uses its partitions'
    own, which the publish keeps fresh. Autovacuum never analyses a partitioned table, so the
    warehouse build calls this first. The ANALYZE also goes through every partition (as it
    must before PostgreSQL 17): about 0.1 s a partition. Returns whether it ran.
    """
    counted, stored = conn.execute(
        text(
            "SELECT p.reltuples, coalesce(sum(greatest(c.reltuples, 0)), 0) "
            "FROM pg_class AS p LEFT JOIN pg_inherits AS i ON i.inhparent = p.oid "
            "LEFT JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE p.oid = CAST(:t AS regclass) GROUP BY p.reltuples"
        ),
        {"t": PARENT},
    ).one()
    stale = abs(stored - counted) > PARENT_ANALYZE_THRESHOLD + PARENT_ANALYZE_SHARE * counted
    if counted >= 0 and not stale:
        return False
    conn.exec_driver_sql(f"ANALYZE {PARENT}")
    return True
