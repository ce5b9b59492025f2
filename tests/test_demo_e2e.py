"""The quick start end to end, as a user runs it: ``trustdata demo`` on a fresh data dir.

Real parts throughout: an embedded PostgreSQL of its own, the sandbox MIS on loopback, every
academy's DAG and the warehouse build run by ``airflow dags test``, dbt, and the read API.
Run twice, it must give the same numbers and write no duplicate rows. A broken trust config
must stop it before anything is written.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from tests.conftest import write_trust_config
from trustdata.warehouse.embedded import socket_url, start_embedded
from trustdata.warehouse.engine import get_engine

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTDATA_", "AIRFLOW"))}
    env.update(TRUSTDATA_DATA_DIR=str(data_dir), TD_TEST_TOKEN="sandbox-demo-token")
    return env


def run_demo(config: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trustdata.cli", "--config", str(config), "demo", "--no-serve"]
    return subprocess.run(
        [*command, "--api-port", str(free_port()), *extra],
        env=demo_env(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )


def answers(stdout: str) -> list[dict]:
    """The JSON bodies the demo printed under each example request."""
    blocks = stdout.split("$ curl ")[1:]
    return [json.loads(block.split("\n", 1)[1].split("\n\n")[0]) for block in blocks]


def test_demo_runs_twice_with_the_same_numbers(tmp_path: Path) -> None:
    config = write_trust_config(tmp_path, f"http://127.0.0.1:{free_port()}/v1.0")
    data_dir = tmp_path / "data"
    first = run_demo(config, data_dir, "--scale", "0.03")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_demo(config, data_dir, "--scale", "0.03")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    trust_first, academy_first = answers(first.stdout)
    assert trust_first["level"] == "trust" and academy_first["id"] == "oakfield"
    assert trust_first["disadvantaged"]["possible_sessions"] > 0
    assert isinstance(trust_first["gap_percentage_points"], float)
    assert answers(second.stdout) == [trust_first, academy_first]
    for dag_id in ("academy_oakfield", "academy_yewtree", "warehouse_build"):
        assert f"{dag_id}: success" in second.stdout
    # Each academy's run rendered its Data Docs, and the demo says where.
    assert (data_dir / "data_docs" / "oakfield" / "index.html").is_file()
    assert "data quality of oakfield (Great Expectations Data Docs): file://" in second.stdout

    server = start_embedded(data_dir)
    engine = get_engine(socket_url(data_dir, "trustdata"))
    with engine.connect() as conn:
        runs = conn.execute(
            text(
                "SELECT stream, status, rows_published FROM meta.batches "
                "WHERE academy_id = 'ashbrook' ORDER BY started_at"
            )
        ).all()
        keys = conn.execute(
            text(
                "SELECT count(*) = count(DISTINCT (academy_id, upn, mark_date, session)) "
                "FROM raw.attendance_marks"
            )
        ).scalar_one()
    engine.dispose()
    del server
    # Two runs of the four streams Wonde serves (pupils, enrolments, attendance, deletions),
    # every batch published.
    assert [r.status for r in runs] == ["published"] * 8
    assert [r.rows_published for r in runs if r.stream == "enrolments"][1] == 0
    # The second run re-read the look-back window and changed nothing.
    assert [r.rows_published for r in runs if r.stream == "attendance"][1] == 0
    assert keys


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        (
            lambda c: c["academies"][0]["adapter"].update(kind="simz"),
            "academies['oakfield'].adapter.kind",
        ),
        (lambda c: c["academies"][1].pop("urn"), "academies['ashbrook'].urn"),
        (lambda c: c["academies"][2].update(id="oakfield"), "academies['oakfield'].id: duplicate"),
        (
            lambda c: c["academies"][3].update(hbu="south"),
            "academies['yewtree'].hbu: unknown field",
        ),
    ],
)
def test_broken_config_stops_before_anything_is_written(
    tmp_path: Path, break_it, field: str
) -> None:
    config = write_trust_config(tmp_path, "http://127.0.0.1:9/v1.0")
    data = yaml.safe_load(config.read_text())
    break_it(data)
    config.write_text(yaml.safe_dump(data))
    data_dir = tmp_path / "data"
    result = run_demo(config, data_dir)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {config}: {field}")
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()
