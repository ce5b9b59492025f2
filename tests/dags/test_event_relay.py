"""An MIS event that arrives while Airflow is down reaches the academy's DAG once it is back.

Real parts: the read API on loopback with its relay running, and Airflow's own API server on the
session's PostgreSQL. The event is accepted and stored while no Airflow answers; the relay keeps
it, with the error, and retries; once the API server is up the event becomes an asset event and
Airflow queues the academy's DAG on it, which the scheduler's next loop starts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, create_engine, select, text

from sandbox_mis.testing import running_app
from tests.conftest import write_trust_config
from tests.dags.airflow_run import WarmAirflow, airflow_env, metadata_url
from trustdata.airflow_env import airflow_command
from trustdata.config.settings import get_settings
from trustdata.orchestration.assets import event_asset_uri
from trustdata.orchestration.outbox import AirflowApi, RelayError, sign
from trustdata.warehouse.tables import mis_events

pytestmark = pytest.mark.slow

SECRET = "relay-test-secret"
PASSWORD = "relay-test-password"
ACADEMY = "oakfield"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def start(stack: ExitStack, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    handle = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(
        airflow_command(*args), env=env, stdout=handle, stderr=subprocess.STDOUT
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The demo trust cut to one academy, which takes signed MIS events."""
    path = write_trust_config(tmp_path, "http://127.0.0.1:9/v1.0")  # no MIS read here
    trust = yaml.safe_load(path.read_text())
    trust["academies"] = [a for a in trust["academies"] if a["id"] == ACADEMY]
    trust["academies"][0]["webhook_secret_env"] = "TD_OAKFIELD_EVENTS_SECRET"
    path.write_text(yaml.safe_dump(trust))
    return path


def airflow_db(warehouse_url: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(metadata_url(warehouse_url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query), params).all())
    finally:
        engine.dispose()


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(mis_events)).all())


def test_an_event_sent_while_airflow_is_down_queues_the_academy_once_it_is_back(
    tmp_path: Path,
    engine: Engine,
    warehouse_url: str,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    airflow_url = f"http://127.0.0.1:{port}"
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"relay": PASSWORD}))
    env = airflow_env(
        tmp_path,
        config,
        warehouse_url,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="relay:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__API_AUTH__JWT_SECRET="relay-test-jwt-secret",
        AIRFLOW__API__BASE_URL=airflow_url,
    )
    # The academy's DAG is deployed and switched on; no scheduler runs in this test.
    with WarmAirflow(env, tmp_path / "airflow-logs") as airflow:
        for step in (
            ("db", "migrate"),
            ("dags", "reserialize"),
            ("dags", "unpause", f"academy_{ACADEMY}"),
        ):
            done = airflow(*step)
            assert done.returncode == 0, done.stdout[-3000:]

    monkeypatch.setenv("TD_OAKFIELD_EVENTS_SECRET", SECRET)
    monkeypatch.setenv("TRUSTDATA_AIRFLOW_API_URL", airflow_url)
    monkeypatch.setenv("TRUSTDATA_AIRFLOW_USERNAME", "relay")
    monkeypatch.setenv("TRUSTDATA_AIRFLOW_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRUSTDATA_RELAY_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("TRUSTDATA_RELAY_MAX_BACKOFF_SECONDS", "2")
    get_settings.cache_clear()
    from ingest_api.main import create_app

    with ExitStack() as stack:
        root = stack.enter_context(running_app(create_app(config), lifespan=True))
        body = json.dumps({"event_id": "evt-1", "type": "attendance.updated"}).encode()
        accepted = httpx.post(
            f"{root}/api/v1/academies/{ACADEMY}/events",
            content=body,
            headers={"X-Trustdata-Signature": sign(SECRET, body, int(time.time()))},
        )
        assert accepted.status_code == 202, accepted.text

        # Airflow is down: the relay keeps the event, says why, and tries again.
        wait_for("two failed deliveries", lambda: outbox(engine)[0].attempts >= 2, 30)
        (waiting,) = outbox(engine)
        assert waiting.delivered_at is None
        assert "is the api-server up?" in waiting.last_error

        start(
            stack,
            env,
            tmp_path / "api-server.log",
            "api-server",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        )
        delivered = wait_for(
            "the event's delivery", lambda: outbox(engine)[0].delivered_at is not None, 120
        )
        assert delivered
        (event,) = airflow_db(
            warehouse_url,
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = :uri",
            uri=event_asset_uri(ACADEMY),
        )
        assert event.extra["mis_events"] == 1 and event.extra["from_rest_api"] is True

        # Airflow queued the academy's DAG on the event: the scheduler's next loop starts the
        # run (tests/dags/test_celery.py shows scheduler and workers running academy DAGs).
        queued = airflow_db(
            warehouse_url,
            "SELECT q.target_dag_id FROM asset_dag_run_queue q JOIN asset a ON a.id = q.asset_id "
            "WHERE a.uri = :uri",
            uri=event_asset_uri(ACADEMY),
        )
        assert [row.target_dag_id for row in queued] == [f"academy_{ACADEMY}"]

        # The relay's edges, against the real API server: a wrong password, an unknown asset.
        wrong = AirflowApi(airflow_url, username="relay", password="wrong")
        with pytest.raises(RelayError, match="TRUSTDATA_AIRFLOW_PASSWORD"):
            wrong.post_event(event_asset_uri(ACADEMY), {})
        wrong.close()
        right = AirflowApi(airflow_url, username="relay", password=PASSWORD)
        with pytest.raises(RelayError, match="is the academy's DAG deployed"):
            right.post_event(event_asset_uri("not_deployed"), {})
        right.close()
    monkeypatch.undo()
    get_settings.cache_clear()
