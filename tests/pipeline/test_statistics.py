"""A publish refreshes a raw table's statistics as far as it left them stale.

Against the real PostgreSQL, on a table of the test's own (the raw tables keep statistics and
change counts across tests: TRUNCATE clears neither). The server counts a backend's changes
into the table statistics at most once a second, so the test sends its counts at once
(``pg_stat_force_next_flush``, as the publish does) and keeps autovacuum off its table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine

from trustdata.pipeline.publish import stale_statistics

PROBE = "public.statistics_probe"


def add(conn: Connection, academy_id: str, rows: int) -> None:
    conn.exec_driver_sql(
        f"INSERT INTO {PROBE} SELECT %(a)s, g::text FROM generate_series(1, %(n)s) AS g",
        {"a": academy_id, "n": rows},
    )
    conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")


@pytest.fixture
def probe(engine: Engine) -> Iterator[str]:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {PROBE}")
        conn.exec_driver_sql(
            f"CREATE TABLE {PROBE} (academy_id text, upn text) WITH (autovacuum_enabled = false)"
        )
    yield PROBE
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {PROBE}")


def test_statistics_are_refreshed_as_far_as_a_publish_left_them_stale(
    engine: Engine, probe: str
) -> None:
    quoted = 'it\'s, "quoted" {braced}'
    with engine.begin() as conn:
        add(conn, "first", 990)
        add(conn, quoted, 10)
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "first", 1000) == "all"  # never gathered
        conn.exec_driver_sql(f"ANALYZE {probe}")
    with engine.begin() as conn:
        # The academy is known and little has changed: nothing to do.
        assert stale_statistics(conn, probe, "first", 10) is None
        assert stale_statistics(conn, probe, quoted, 10) is None
        # More than a tenth (and 50 rows) changed: everything again.
        assert stale_statistics(conn, probe, "first", 151) == "all"
        # A new academy's few rows: only the academy column, so the planner counts its rows.
        add(conn, "second", 20)
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "second", 20) == "academy"
        conn.exec_driver_sql(f"ANALYZE {probe} (academy_id)")
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "second", 20) is None
        # An id is compared as a value: one like the quoted id is not it.
        assert stale_statistics(conn, probe, "it's", 1) == "academy"
        # A table that does not exist (a partition not made) has nothing to refresh.
        assert stale_statistics(conn, "public.no_such_table", "first", 1) is None


def test_a_new_academy_among_many_is_planned_for_without_an_analyze(
    engine: Engine, probe: str
) -> None:
    # 150 academies of 10 rows: academy_id's most common values do not cover the column, and
    # the planner shares the rest out among the values it has not listed.
    with engine.begin() as conn:
        for number in range(150):
            add(conn, f"academy_{number:03d}", 10)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {probe}")
        add(conn, "newcomer", 10)
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "newcomer", 10) is None
