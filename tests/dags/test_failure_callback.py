"""A failing task, through real Airflow (``airflow dags test``): its failure is recorded in
``meta.run_failures`` and announced to the alert webhook (a real HTTP server on loopback).

The MIS is a closed loopback port, so the first land task fails at once (no retries).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.dags.airflow_run import WarmAirflow, airflow_env
from tests.helpers import one_academy_config
from trustdata.warehouse.tables import run_failures

pytestmark = pytest.mark.slow

TOKEN = "td-s3cret-token"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


def test_a_failed_task_is_recorded_and_announced(
    tmp_path: Path,
    engine: Engine,
    warehouse_url: str,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    config = one_academy_config(
        tmp_path,
        academy_id="broken",
        urn="990950",
        kind="wonde",
        options={
            "base_url": f"http://127.0.0.1:{closed_port()}/v1.0",
            "school_id": "A1000000001",
            "max_retries": 0,
        },
        credential_env="TD_BROKEN_TOKEN",
    )
    env = airflow_env(
        tmp_path, config, warehouse_url, TRUSTDATA_ALERT_WEBHOOK_URL=url, TD_BROKEN_TOKEN=TOKEN
    )
    with WarmAirflow(env, tmp_path / "airflow-logs") as airflow:
        migrate = airflow("db", "migrate")
        assert migrate.returncode == 0, migrate.stdout[-2000:]
        run = airflow("dags", "test", "academy_broken")
    output = run.stdout
    assert run.returncode != 0 or "failed" in output

    with engine.connect() as conn:
        failures = conn.execute(
            select(
                run_failures.c.task_id,
                run_failures.c.academy_id,
                run_failures.c.stream,
                run_failures.c.error_class,
                run_failures.c.message,
                run_failures.c.notified,
            ).order_by(run_failures.c.task_id)
        ).all()
    # The two tasks that read the MIS first (deletions do not wait for the roll) fail; the
    # rest never run.
    assert [tuple(f[:4]) for f in failures] == [
        ("land_deletions", "broken", "deletions", "AdapterError"),
        ("land_pupils", "broken", "pupils", "AdapterError"),
    ], output[-3000:]
    assert all("ConnectError after 1 try" in f.message and f.notified for f in failures)
    assert sorted((a["event"], a["dag_id"], a["task_id"]) for a in received) == [
        ("trustdata.task_failed", "academy_broken", "land_deletions"),
        ("trustdata.task_failed", "academy_broken", "land_pupils"),
    ]
    assert TOKEN not in json.dumps(received) + output


def test_an_alert_that_cannot_be_delivered_is_recorded_not_raised(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trustdata.config.settings import get_settings
    from trustdata.orchestration import record_failure

    monkeypatch.setenv("TRUSTDATA_ALERT_WEBHOOK_URL", "https://alerts.example/hook")
    get_settings.cache_clear()
    try:
        down = httpx.MockTransport(lambda request: httpx.Response(503))
        record = record_failure(
            dag_id="academy_x",
            task_id="publish_attendance",
            run_id="manual__1",
            error=RuntimeError("batch 1 blocked"),
            academy_id="x",
            stream="attendance",
            transport=down,
        )
    finally:
        get_settings.cache_clear()
    assert record["notified"] is False
    with engine.connect() as conn:
        stored = conn.execute(select(run_failures.c.message, run_failures.c.notified)).one()
    assert tuple(stored) == ("batch 1 blocked", False)
