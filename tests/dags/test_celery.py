"""The scale path: an academy's DAG run by Airflow's CeleryExecutor, for real, on loopback.

The sandbox MIS serves a small demo trust; the API server, scheduler, DAG processor and an
``airflow celery worker`` run as separate processes (``TRUSTDATA_AIRFLOW_EXECUTOR=celery``),
with Redis or RabbitMQ on loopback as broker and the session's Airflow metadata database as
result backend. The test unpauses one academy's DAG through the REST API; the scheduler starts
its run and sends each task to the worker through the broker. The run must succeed, every task
must have gone through Celery (its result is in the result backend), and the academy's streams
must be published in the warehouse.

Each test listens on its own Celery queue, so runs at once never take each other's tasks. It
skips only when the broker is not reachable.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
import kombu
import pytest
from celery import states as celery_states
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import ProgrammingError

from sandbox_mis.dataset import DEMO_TOKEN, generate
from sandbox_mis.testing import running_sandbox
from tests.conftest import write_trust_config
from tests.dags.airflow_run import airflow, airflow_env, metadata_url
from trustdata.adapters.registry import adapter_class
from trustdata.airflow_env import airflow_command
from trustdata.warehouse.tables import batches

pytestmark = pytest.mark.slow

BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
#: One academy per broker, and none other Airflow tests run: the metadata database is the
#: session's, and unpausing a DAG starts only the run of its latest interval, once.
ACADEMIES = {"redis": "ashbrook", "rabbitmq": "yewtree"}
STARTUP_SECONDS = 120
RUN_SECONDS = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(broker: str) -> str | None:
    """None if the broker answers, else why not."""
    try:
        with kombu.Connection(broker, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def delete_queue(broker: str, queue: str) -> None:
    """Remove this test's queue and the exchange Celery made for it from the broker."""
    with kombu.Connection(broker, connect_timeout=3) as conn:
        channel = conn.default_channel
        exchange = kombu.Exchange(queue, type="direct")
        bound = kombu.Queue(queue, exchange, routing_key=queue)(channel)
        # Declared as Celery declares it, so the channel knows the bindings it must remove
        # (kombu's Redis transport keeps them in keys of their own).
        bound.declare()
        bound.delete()
        exchange(channel).delete()


@pytest.fixture(scope="module")
def migrated(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The session's Airflow metadata database, migrated once for this module."""
    folder = tmp_path_factory.mktemp("celery-migrate")
    config = write_trust_config(folder, "http://127.0.0.1:9/v1.0")
    result = airflow(airflow_env(folder, config, warehouse_url), "db", "migrate")
    assert result.returncode == 0, result.stdout[-2000:]


class Components:
    """Airflow processes, each in its own process group, stopped together."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        """Start ``airflow ARGS``, its output in ``<log_dir>/<name>.log``."""
        with (self.log_dir / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                airflow_command(*args),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_running(self) -> None:
        """Fail, with its log, if a component has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with code {process.returncode}\n{self.logs(name)}")

    def logs(self, *names: str) -> str:
        """The last lines of the named components' logs (all when none named)."""
        parts = []
        for name in names or tuple(self.processes):
            lines = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
            parts.append(f"--- {name} ---\n" + "\n".join(lines[-40:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop every component; SIGKILL whatever is left of its process group after 20s."""
        for process in self.processes.values():
            # The leader only: it stops its own children (a Celery worker's warm shutdown).
            process.terminate()
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(what: str, components: Components, probe: Any, timeout: float) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with the logs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        components.check_running()
        try:
            found = probe()
        except (httpx.TransportError, ProgrammingError):
            # Not up yet, or Celery has not created its result table yet.
            found = None
        if found:
            return found
        time.sleep(0.25)
    pytest.fail(f"{what}: not within {timeout:.0f}s\n{components.logs()}")


def dag_runs(api: httpx.Client, dag_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"])


def finished_run(api: httpx.Client, dag_id: str, before: set[str]) -> dict[str, Any] | None:
    """The first run of ``dag_id`` not among ``before`` to have finished, if any."""
    done = [
        run
        for run in dag_runs(api, dag_id)
        if run["dag_run_id"] not in before and run["state"] in ("success", "failed")
    ]
    return done[0] if done else None


def celery_results(
    warehouse_url: str, dag_id: str, run_id: str
) -> list[tuple[str, str, str | None]]:
    """(task id, task state, Celery result status or None) of each task instance of the run."""
    engine = create_engine(metadata_url(warehouse_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT ti.task_id, ti.state, c.status FROM task_instance ti "
                    "LEFT JOIN celery_taskmeta c ON c.task_id = ti.external_executor_id "
                    "WHERE ti.dag_id = :dag_id AND ti.run_id = :run_id ORDER BY ti.task_id"
                ),
                {"dag_id": dag_id, "run_id": run_id},
            ).all()
    finally:
        engine.dispose()
    return [(r.task_id, r.state, r.status) for r in rows]


def all_stored(tasks: list[tuple[str, str, str | None]]) -> list[tuple[str, str, str | None]]:
    """``tasks`` once Celery has stored every one's final result, else an empty list."""
    done = tasks and all(status in celery_states.READY_STATES for _, _, status in tasks)
    return tasks if done else []


@pytest.mark.parametrize("broker_name", list(BROKERS))
def test_an_academy_dag_runs_on_the_celery_executor(
    broker_name: str,
    tmp_path: Path,
    engine: Engine,
    warehouse_url: str,
    migrated: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = BROKERS[broker_name]
    why_not = reachable(broker)
    if why_not:
        pytest.skip(f"{broker_name} broker not reachable at {broker}: {why_not}")
    academy = ACADEMIES[broker_name]
    dag_id = f"academy_{academy}"
    queue = f"trustdata_test_{secrets.token_hex(6)}"
    port = free_port()
    # The project's own switch chooses the executor; the broker is the one under test.
    monkeypatch.setenv("TRUSTDATA_AIRFLOW_EXECUTOR", "celery")
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", broker)

    # Undone in reverse: every component stops (even on failure), then the queue goes.
    with ExitStack() as stack:
        base = stack.enter_context(running_sandbox(generate(scale=0.03)))
        stack.callback(delete_queue, broker, queue)
        config = write_trust_config(tmp_path, base)
        env = airflow_env(
            tmp_path,
            config,
            warehouse_url,
            TD_TEST_TOKEN=DEMO_TOKEN,
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__CELERY__WORKER_CONCURRENCY="4",
        )
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        (tmp_path / "logs").mkdir()
        components = Components(env, tmp_path / "logs")
        stack.callback(components.stop)
        components.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        components.start("dag-processor", "dag-processor")
        components.start("scheduler", "scheduler")
        components.start(
            "worker",
            "celery",
            "worker",
            "--queues",
            queue,
            "--celery-hostname",
            f"{queue}@%h",
            "--without-mingle",
            "--without-gossip",
        )
        api = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))
        wait_for(
            f"{dag_id} parsed and served by the API server",
            components,
            lambda: api.get(f"/api/v2/dags/{dag_id}").status_code == 200,
            STARTUP_SECONDS,
        )
        before = {run["dag_run_id"] for run in dag_runs(api, dag_id)}
        # Unpausing lets the scheduler start the run for the latest interval; only this DAG.
        unpaused = api.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert unpaused.status_code == 200, unpaused.text
        run = wait_for(
            f"a finished run of {dag_id}",
            components,
            lambda: finished_run(api, dag_id, before),
            RUN_SECONDS,
        )
        assert run["state"] == "success", components.logs("scheduler", "worker")
        # A task reports its state before its process ends; Celery stores its result after.
        tasks = wait_for(
            "every task's result in the Celery result backend",
            components,
            lambda: all_stored(celery_results(warehouse_url, dag_id, run["dag_run_id"])),
            60,
        )

    assert [t for t in tasks if t[1:] != ("success", "SUCCESS")] == [], tasks
    with engine.connect() as conn:
        published = conn.execute(
            select(batches.c.stream, batches.c.status, batches.c.rows_published)
            .where(batches.c.academy_id == academy, batches.c.run_id == run["dag_run_id"])
            .order_by(batches.c.stream)
        ).all()
    # Every stream the academy's adapter serves was landed, audited and published by this run.
    served = sorted(stream.value for stream in adapter_class("wonde").streams)
    assert [(stream, status) for stream, status, _ in published] == [
        (stream, "published") for stream in served
    ]
    assert all(rows > 0 for stream, _, rows in published if stream != "deletions"), published
