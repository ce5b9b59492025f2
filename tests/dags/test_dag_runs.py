"""Whole DAG runs through real Airflow (``airflow dags test``, ``airflow tasks test``).

One academy on the Arbor-style sandbox MIS on loopback (its changes while serving give a later
run real new data), the session's PostgreSQL, and one warm Airflow process for the module that
runs its ``airflow`` commands in turn (one metadata migrate, then each ``dags test`` and
``tasks test``):

- a full academy sync, then the warehouse build: the MIS's rows are published and the mart built;
- a second run, and a finished run's publish task run again: nothing changes;
- a publish that fails part-way (a trigger on ``raw.attendance_marks`` raises after two rows, a
  real database error): nothing of the batch is visible, the stream's position stays, the batch
  and the failure are recorded; once the fault is gone the next run publishes everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, Text, func, literal, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by

from sandbox_mis.arbor_testing import ArborSandbox, serving_arbor
from sandbox_mis.dataset import DEMO_TOKEN, generate
from tests.dags.airflow_run import WarmAirflow, airflow_env
from tests.helpers import one_academy_config
from trustdata.warehouse.engine import get_engine
from trustdata.warehouse.tables import (
    SCHEMAS,
    attendance_marks,
    batches,
    metadata,
    pupils,
    run_failures,
    watermarks,
)

pytestmark = pytest.mark.slow

ACADEMY = "oakfield"
SCHOOL = "A1000000001"
DAG_ID = f"academy_{ACADEMY}"
#: Every run has the same logical date, so flags judged "as at" it never change between runs.
LOGICAL_DATE = "2026-03-02"
STREAMS = {"pupils", "enrolments", "characteristics", "attendance", "deletions"}
RAW_TABLES = [t for t in metadata.sorted_tables if t.schema == "raw"]

#: Lets the first two rows a statement writes to raw.attendance_marks through, then raises.
FAULT = (
    """
    CREATE FUNCTION public.td_test_fail_after_two() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        written integer := coalesce(nullif(current_setting('td_test.rows', true), ''), '0')::int;
    BEGIN
        PERFORM set_config('td_test.rows', (written + 1)::text, true);
        IF written >= 2 THEN
            RAISE EXCEPTION 'test fault: publish interrupted after % rows', written;
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER td_test_fail_after_two BEFORE INSERT OR UPDATE ON raw.attendance_marks "
    "FOR EACH ROW EXECUTE FUNCTION public.td_test_fail_after_two()",
)
#: How the batch and the failure record name that fault.
FAILED = "publish failed: RaiseException (SQLSTATE P0001)"
NO_FAULT = (
    "DROP TRIGGER IF EXISTS td_test_fail_after_two ON raw.attendance_marks",
    "DROP FUNCTION IF EXISTS public.td_test_fail_after_two()",
)


@dataclass(frozen=True)
class Run:
    """A finished ``airflow dags test``: its run id, final state and output."""

    run_id: str
    state: str
    output: str


@dataclass(frozen=True)
class Synced:
    """The module's academy after its first full sync and warehouse build."""

    airflow: WarmAirflow
    engine: Engine
    sandbox: ArborSandbox
    first: Run


def dag_run(airflow: WarmAirflow, dag_id: str) -> Run:
    """Run ``dag_id`` once with ``airflow dags test``; return how it ended."""
    result = airflow("dags", "test", dag_id, LOGICAL_DATE)
    found = re.search(
        rf"DagRun Finished: dag_id={dag_id}, .*?run_id=(\S+), .*?state=(\w+)", result.stdout
    )
    assert found, result.stdout[-3000:]
    return Run(found[1], found[2], result.stdout)


def run_batches(engine: Engine, run_id: str) -> dict[str, dict[str, Any]]:
    """The batches of one DAG run, by stream."""
    with engine.connect() as conn:
        rows = conn.execute(select(batches).where(batches.c.run_id == run_id)).mappings()
        return {row["stream"]: dict(row) for row in rows}


def raw_state(engine: Engine) -> dict[str, tuple[int, str | None]]:
    """Each raw table's row count and a digest of every column of every row."""
    state: dict[str, tuple[int, str | None]] = {}
    with engine.connect() as conn:
        for table in RAW_TABLES:
            row = func.to_jsonb(table.table_valued()).cast(Text)
            digest = func.md5(func.string_agg(row, aggregate_order_by(literal("|"), row)))
            count, md5 = conn.execute(select(func.count(), digest).select_from(table)).one()
            state[table.name] = (int(count), md5)
    return state


def positions(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Each stream's stored position: watermark, cursor and source."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                watermarks.c.stream,
                watermarks.c.watermark,
                watermarks.c.cursor,
                watermarks.c.source,
            )
        )
        return {row.stream: tuple(row[1:]) for row in rows}


def served(sandbox: ArborSandbox, resource: str, key: str) -> list[dict[str, Any]]:
    """Every object the sandbox serves in ``resource``, read page by page as a client does."""
    objects: list[dict[str, Any]] = []
    with httpx.Client(base_url=f"{sandbox.host(SCHOOL)}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as c:
        for number in range(1, 1000):
            params = {"page-size": "1000", "page-number": str(number)}
            page: list[dict[str, Any]] = c.get(resource, params=params).json()[key]
            if not page:
                break
            objects.extend(page)
    return objects


def truncate_pipeline_tables(engine: Engine) -> None:
    """Start the module from an empty warehouse (the session's database is shared)."""
    with engine.begin() as conn:
        names = conn.execute(
            text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname = ANY(:schemas) AND tablename <> 'alembic_version'"
            ),
            {"schemas": list(SCHEMAS)},
        ).scalars()
        conn.execute(text(f"TRUNCATE {', '.join(names)}"))


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str) -> Iterator[Synced]:
    """One academy synced by its DAG, then the warehouse built by its DAG."""
    folder = tmp_path_factory.mktemp("dag_runs")
    engine = get_engine(warehouse_url)
    truncate_pipeline_tables(engine)
    with serving_arbor(generate(scale=0.03)) as sandbox:
        config = one_academy_config(
            folder,
            academy_id=ACADEMY,
            urn="990001",
            kind="arbor",
            options={
                "base_url": sandbox.host(SCHOOL),
                "username": SCHOOL,
                "page_size": 1000,
                "max_retries": 0,
                "max_requests_per_second": 100,
            },
            credential_env="TD_ARBOR_TOKEN",
        )
        env = airflow_env(folder, config, warehouse_url, TD_ARBOR_TOKEN=DEMO_TOKEN)
        with WarmAirflow(env, folder / "airflow-logs") as airflow:
            migrate = airflow("db", "migrate")
            assert migrate.returncode == 0, migrate.stdout[-3000:]
            first = dag_run(airflow, DAG_ID)
            assert first.state == "success", first.output[-3000:]
            build = dag_run(airflow, "warehouse_build")
            assert build.state == "success", build.output[-3000:]
            yield Synced(airflow, engine, sandbox, first)


def test_a_full_sync_publishes_what_the_mis_serves_and_the_build_makes_the_mart(
    synced: Synced,
) -> None:
    engine = synced.engine
    done = run_batches(engine, synced.first.run_id)
    assert set(done) == STREAMS
    assert {b["status"] for b in done.values()} == {"published"}
    marks = served(synced.sandbox, "attendance-records", "attendanceRecords")
    students = served(synced.sandbox, "students", "students")
    assert done["attendance"]["rows_inserted"] == len(marks) > 1000
    assert done["pupils"]["rows_inserted"] == len(students) > 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(attendance_marks)).scalar() == len(
            marks
        )
        assert conn.execute(select(func.count()).select_from(pupils)).scalar() == len(students)
        gap = conn.execute(
            text(
                "SELECT level, unit_id FROM marts.mart_attendance_gap"
                " WHERE academic_year = '2025-26' ORDER BY level"
            )
        ).all()
        # The gap mart withholds both groups when either has under 5 pupils, so the sessions
        # are checked on every pupil's row of the measures mart.
        mart = conn.execute(
            text(
                "SELECT level, unit_id, possible_sessions FROM marts.mart_attendance_measures"
                " WHERE academic_year = '2025-26' AND period_type = 'academic_year'"
                " AND group_type = 'all' ORDER BY level"
            )
        ).all()
    expected = [("academy", ACADEMY), ("hub", "hub_a"), ("trust", "arbor_trust")]
    assert [(level, unit) for level, unit in gap] == expected
    assert [(level, unit) for level, unit, _ in mart] == expected
    assert all(possible > 0 for _, _, possible in mart)
    assert set(positions(engine)) == STREAMS


def test_running_again_changes_nothing(synced: Synced) -> None:
    engine = synced.engine
    before, where = raw_state(engine), positions(engine)
    again = dag_run(synced.airflow, DAG_ID)
    assert again.state == "success", again.output[-3000:]
    second = run_batches(engine, again.run_id)
    assert set(second) == STREAMS
    assert {
        (b["status"], b["rows_inserted"], b["rows_updated"], b["rows_removed"])
        for b in second.values()
    } == {("published", 0, 0, 0)}
    assert raw_state(engine) == before
    assert positions(engine) == where

    # A task of the finished run again (``dags test`` on the same logical date replaced the
    # first run in Airflow): its batch is published already, so nothing happens.
    recorded = second["attendance"]
    task = synced.airflow("tasks", "test", DAG_ID, "publish_attendance", again.run_id)
    assert task.returncode == 0, task.stdout[-3000:]
    assert f"'batch_id': '{recorded['batch_id']}', 'status': 'published'" in task.stdout
    assert run_batches(engine, again.run_id)["attendance"] == recorded
    assert raw_state(engine) == before
    assert positions(engine) == where


def corrections(sandbox: ArborSandbox, how_many: int) -> dict[int, str]:
    """Register corrections to make: record id -> a code other than the one it reads now."""
    codes = {m["id"]: m["code"] for m in served(sandbox, "attendance-marks", "attendanceMarks")}
    records = served(sandbox, "attendance-records", "attendanceRecords")[100 : 100 + how_many]
    return {r["id"]: "I" if codes[r["attendanceMark"]["id"]] != "I" else "M" for r in records}


def test_a_publish_failing_part_way_leaves_nothing_and_the_next_run_recovers(
    synced: Synced,
) -> None:
    engine = synced.engine
    school = synced.sandbox.school(SCHOOL)
    fixes = corrections(synced.sandbox, 4)
    for record_id, code in fixes.items():
        school.correct_mark(record_id, code)
    before, where = raw_state(engine), positions(engine)
    with engine.begin() as conn:
        for statement in FAULT:
            conn.execute(text(statement))
    try:
        failed = dag_run(synced.airflow, DAG_ID)
    finally:
        with engine.begin() as conn:
            for statement in NO_FAULT:
                conn.execute(text(statement))
    assert failed.state == "failed", failed.output[-3000:]

    # Nothing of the batch is visible, not even the two rows written before the fault, nor
    # the replaced marks it would have kept; the attendance position has not moved.
    assert raw_state(engine) == before
    after = positions(engine)
    assert after["attendance"] == where["attendance"]
    attempt = run_batches(engine, failed.run_id)
    assert attempt["attendance"]["rows_landed"] == len(fixes)
    # Recorded as failed, by SQLSTATE: P0001 is the trigger's RAISE, after two rows went in.
    assert (attempt["attendance"]["status"], attempt["attendance"]["message"]) == (
        "failed",
        FAILED,
    )
    others = {s: b for s, b in attempt.items() if s != "attendance"}
    assert {
        (b["status"], b["rows_inserted"], b["rows_updated"], b["rows_removed"])
        for b in others.values()
    } == {("published", 0, 0, 0)}
    with engine.connect() as conn:
        failures = conn.execute(
            select(
                run_failures.c.task_id,
                run_failures.c.stream,
                run_failures.c.error_class,
                run_failures.c.message,
            ).where(run_failures.c.run_id == failed.run_id)
        ).all()
    batch_id = attempt["attendance"]["batch_id"]
    assert [tuple(f) for f in failures] == [
        ("publish_attendance", "attendance", "RuntimeError", f"batch {batch_id}: {FAILED}")
    ]
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT latest_status FROM meta.freshness WHERE stream = 'attendance'")
        ).scalar_one()
    assert status == "failed"

    # More changes while the feed is down: a mark deleted (taken in error).
    gone = next(
        r["id"]
        for r in served(synced.sandbox, "attendance-records", "attendanceRecords")[200:]
        if r["id"] not in fixes
    )
    school.delete_mark(gone)

    recovered = dag_run(synced.airflow, DAG_ID)
    assert recovered.state == "success", recovered.output[-3000:]
    done = run_batches(engine, recovered.run_id)
    assert {b["status"] for b in done.values()} == {"published"}
    mark = done["attendance"]
    assert (mark["rows_inserted"], mark["rows_updated"], mark["rows_removed"]) == (0, 4, 0)
    assert done["deletions"]["rows_removed"] == 1
    assert positions(engine)["attendance"] != where["attendance"]
    now = raw_state(engine)
    assert now["attendance_marks"][0] == before["attendance_marks"][0] - 1
    assert now["attendance_marks_superseded"][0] == before["attendance_marks_superseded"][0] + 5
    with engine.connect() as conn:
        codes = dict(
            conn.execute(
                select(attendance_marks.c.mis_mark_id, attendance_marks.c.code).where(
                    attendance_marks.c.mis_mark_id.in_([str(i) for i in fixes])
                )
            ).all()
        )
    assert codes == {str(i): code for i, code in fixes.items()}
