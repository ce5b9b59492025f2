"""Backfill: re-read one academic year without disturbing the incremental watermarks.

From the CLI (in process) against the sandbox MIS on loopback, and through real Airflow with
the academy DAG's ``academic_year`` param (``airflow dags test --conf``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from sandbox_mis.dataset import generate
from sandbox_mis.testing import running_sandbox
from tests.conftest import write_trust_config
from tests.dags.airflow_run import WarmAirflow, airflow_env
from tests.helpers import count
from trustdata.cli import main
from trustdata.warehouse.tables import attendance_marks, batches, watermarks

YEAR = "2025-26"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running_sandbox(generate(scale=0.02)) as base:
        yield base


@pytest.fixture
def config(tmp_path: Path, sandbox: str, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Path:
    monkeypatch.setenv("TD_TEST_TOKEN", "sandbox-demo-token")
    return write_trust_config(tmp_path, sandbox)


def positions(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(watermarks))}


def backfills(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(batches.c.stream, batches.c.status, batches.c.backfill_from)
                .where(batches.c.backfill_from.is_not(None))
                .order_by(batches.c.stream)
            )
        ]


def test_cli_backfill_leaves_watermarks_alone(config: Path, engine: Engine) -> None:
    assert main(["--config", str(config), "sync", "oakfield"]) == 0
    before, marks = positions(engine), count(engine, attendance_marks)
    assert marks > 0
    assert main(["--config", str(config), "backfill", YEAR, "oakfield"]) == 0
    assert positions(engine) == before
    assert count(engine, attendance_marks) == marks  # the same year again: nothing new
    done = backfills(engine)
    assert {stream for stream, _, _ in done} == {"pupils", "enrolments", "attendance", "deletions"}
    assert {(status, start) for _, status, start in done} == {("published", date(2025, 9, 1))}


def test_a_year_before_any_data_lands_no_marks(config: Path, engine: Engine) -> None:
    assert main(["--config", str(config), "backfill", "2023-24", "ashbrook"]) == 0
    assert count(engine, attendance_marks) == 0
    assert positions(engine) == set()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["backfill", "2025/26"], "write it as YYYY-YY"),
        (["backfill", "2025-27"], "write it as YYYY-YY"),
        (["backfill", "2019-20"], "hold no half terms for it (they hold 2023-24, 2024-25"),
        (["backfill", YEAR, "nowhere"], "no academy 'nowhere'"),
    ],
)
def test_bad_backfill_requests(
    config: Path, args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), *args]) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.slow
def test_the_dag_param_backfills_a_year(
    tmp_path: Path, config: Path, engine: Engine, warehouse_url: str
) -> None:
    env = airflow_env(tmp_path, config, warehouse_url, TD_TEST_TOKEN="sandbox-demo-token")
    conf = json.dumps({"academic_year": YEAR})
    with WarmAirflow(env, tmp_path / "airflow-logs") as warm:  # one Airflow start-up, not two
        assert warm("db", "migrate").returncode == 0
        run = warm("dags", "test", "academy_elmstead", "--conf", conf)
    assert run.returncode == 0 and "state=success" in run.stdout, run.stdout[-3000:]
    assert count(engine, attendance_marks) > 0
    assert positions(engine) == set()  # every batch was a backfill: no watermark moved
    assert {status for _, status, _ in backfills(engine)} == {"published"}


def test_cli_reconcile_of_a_synced_academy_is_clean(
    config: Path, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "sync", "oakfield"]) == 0
    marks = count(engine, attendance_marks)
    capsys.readouterr()
    assert main(["--config", str(config), "reconcile", "oakfield", "--year", YEAR]) == 0
    printed = capsys.readouterr().out
    assert "oakfield pupils: clean" in printed and "oakfield attendance: clean" in printed
    assert count(engine, attendance_marks) == marks
    assert main(["--config", str(config), "reconcile", "nowhere"]) == 2
