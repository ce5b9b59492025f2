"""A publish refreshes a raw table's statistics as far as it left them stale.

Against the real PostgreSQL, on a table of the test's own (the raw tables keep statistics and
change counts across tests: TRUNCATE clears neither).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from trustdata.pipeline.publish import stale_statistics

PROBE = "public.statistics_probe"


@pytest.fixture
def probe(engine: Engine) -> Iterator[str]:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {PROBE}")
        conn.exec_driver_sql(f"CREATE TABLE {PROBE} (academy_id text, upn text)")
        conn.exec_driver_sql(
            f"INSERT INTO {PROBE} SELECT 'first', g::text FROM generate_series(1, 1000) AS g"
        )
    yield PROBE
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {PROBE}")


def test_statistics_are_refreshed_as_far_as_a_publish_left_them_stale(
    engine: Engine, probe: str
) -> None:
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "first", 1000) == "all"  # never gathered
        conn.exec_driver_sql(f"ANALYZE {probe}")
    with engine.begin() as conn:
        # The academy is known and little has changed: nothing to do.
        assert stale_statistics(conn, probe, "first", 10) is None
        # More than a tenth (and 50 rows) changed: everything again.
        assert stale_statistics(conn, probe, "first", 151) == "all"
        # A new academy's few rows: only the academy column, so the planner counts its rows.
        conn.exec_driver_sql(
            f"INSERT INTO {probe} SELECT 'second', g::text FROM generate_series(1, 20) AS g"
        )
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "second", 20) == "academy"
        conn.exec_driver_sql(f"ANALYZE {probe} (academy_id)")
    with engine.begin() as conn:
        assert stale_statistics(conn, probe, "second", 20) is None
        # An id is compared as a value, quotes and commas included.
        assert stale_statistics(conn, probe, "it's, first", 1) == "academy"
        # A table that does not exist (a partition not made) has nothing to refresh.
        assert stale_statistics(conn, "public.no_such_table", "first", 1) is None
