"""``make demo``: the demo trust's MIS data through Airflow into the warehouse and out of the API.

Steps: validate the trust config (a broken one stops here, nothing written); start the embedded
PostgreSQL and migrate it; start the sandbox MIS; run each academy's DAG and the warehouse build
DAG with ``airflow dags test``; serve the read API and print its URL and two example requests
with their answers.

The ``airflow`` commands (``db migrate``, then one ``dags test`` per DAG) run in turn in one
warm Airflow process (``trustdata.airflow_batch``), each with a log of its own under
``<data dir>/demo-logs/``: the DAGs after the first skip Airflow's start-up cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from trustdata import orchestration
from trustdata.airflow_batch import AirflowCli, AirflowCliError
from trustdata.airflow_env import airflow_environment
from trustdata.config.settings import PROJECT_ROOT, get_settings
from trustdata.config.trust import TrustConfig, load_trust_config
from trustdata.orchestration.tasks import quality_docs_folder
from trustdata.warehouse.engine import warehouse_url

SANDBOX_TOKEN = "sandbox-demo-token"  # noqa: S105 - the sandbox's public demo token


class DemoError(Exception):
    """A demo step failed; the message says which and where to look."""


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _sandbox_address(config: TrustConfig) -> tuple[str, int] | None:
    """The loopback host and port the config expects the sandbox MIS on, if any."""
    for academy in config.academies:
        base = str(academy.adapter.options.get("base_url", ""))
        parts = urlsplit(base)
        if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
            return parts.hostname, parts.port
    return None


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(
                f"{what} exited with code {process.returncode} while starting "
                f"(is another process using the port of {url}?)"
            )
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise DemoError(f"{what} did not answer on {url} within {timeout:.0f}s")


def _start(stack: ExitStack, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT)
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _airflow(airflow: AirflowCli, args: list[str], log_file: Path) -> int:
    """Run ``airflow ARGS`` in the demo's Airflow process, its output in ``log_file`` alone."""
    log_file.unlink(missing_ok=True)
    try:
        return airflow.run(args, log_file)
    except AirflowCliError as exc:
        raise DemoError(f"{exc}; its log: {log_file}") from exc


def _run_dag(dag_id: str, airflow: AirflowCli, log_dir: Path) -> None:
    started = time.monotonic()
    log_file = log_dir / f"{dag_id}.log"
    code = _airflow(airflow, ["dags", "test", dag_id], log_file)
    text = log_file.read_text(encoding="utf-8", errors="replace")
    if code != 0 or "state=failed" in text or "DagRunState.FAILED" in text:
        raise DemoError(f"DAG {dag_id} failed (exit {code}); its log: {log_file}")
    _say(f"{dag_id}: success in {time.monotonic() - started:.0f}s (log: {log_file})")


def run_demo(
    *,
    config_path: str | None = None,
    serve: bool = True,
    api_port: int = 8000,
    scale: float = 1.0,
) -> int:
    """Run the demo; return a process exit code."""
    settings = get_settings()
    path = Path(config_path) if config_path else settings.trust_config
    config = load_trust_config(path)
    _say(f"trust config ok: {config.name}, {len(config.academies)} academies ({path})")
    os.environ.setdefault("TRUSTDATA_SANDBOX_TOKEN", SANDBOX_TOKEN)
    os.environ["TRUSTDATA_TRUST_CONFIG"] = str(path.resolve())
    url = warehouse_url(settings)
    orchestration.prepare_warehouse(config_path=str(path))
    _say("warehouse ready (schemas migrated, trust structure written)")
    env = airflow_environment(settings, url)
    env["TRUSTDATA_TRUST_CONFIG"] = str(path.resolve())
    env.setdefault("TRUSTDATA_TASK_RETRIES", "0")
    log_dir = settings.data_dir / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        # Started first: Airflow imports while the sandbox MIS starts.
        airflow = stack.enter_context(AirflowCli(env, cwd=PROJECT_ROOT))
        address = _sandbox_address(config)
        if address is not None:
            host, port = address
            sandbox = _start(
                stack,
                [
                    sys.executable,
                    "-m",
                    "sandbox_mis",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--scale",
                    str(scale),
                ],
                env,
            )
            _wait_http(f"http://{host}:{port}/v1.0/schools/none", sandbox, "the sandbox MIS")
            _say(f"sandbox MIS serving on http://{host}:{port}/v1.0")
        # Started now so that it is up by the time the marts are built; it reads the warehouse
        # only when asked.
        api = _start(
            stack,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ingest_api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--log-level",
                "warning",
            ],
            env,
        )
        migrate_log = log_dir / "airflow-db-migrate.log"
        if _airflow(airflow, ["db", "migrate"], migrate_log) != 0:
            raise DemoError(f"airflow db migrate failed; its log: {migrate_log}")
        _say("Airflow metadata database ready")
        for academy in config.academies:
            _run_dag(f"academy_{academy.id}", airflow, log_dir)
        _run_dag("warehouse_build", airflow, log_dir)
        airflow.close()
        base = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{base}/health", api, "the read API")
        _print_examples(base, config)
        if not serve:
            return 0
        _say("serving; press Ctrl-C to stop")
        with suppress(KeyboardInterrupt):
            api.wait()
    return 0


def _demo_key() -> str:
    """A key for the demo's trust-wide client, new each run (the last one stops working)."""
    from trustdata.access.clients import ClientError, create_client, rotate_key
    from trustdata.warehouse.engine import get_engine, warehouse_url

    engine = get_engine(warehouse_url())
    try:
        return create_client(
            engine, client_id="demo", scopes=("pupils", "trust"), description="trustdata demo"
        )
    except ClientError:
        return rotate_key(engine, client_id="demo")


def _print_examples(base: str, config: TrustConfig) -> None:
    year = "2025-26"
    key = _demo_key()
    first = config.academies[0].id if config.academies else "none"
    examples = [
        f"{base}/api/v1/trust/attendance-gap?academic_year={year}",
        f"{base}/api/v1/academies/{first}/attendance-gap?academic_year={year}",
    ]
    _say(f"read API: {base}  (OpenAPI docs: {base}/docs)")
    _say(f"the demo client's key (scopes pupils, trust): export KEY={key}")
    docs = quality_docs_folder(first) / "index.html"
    if docs.is_file():
        _say(f"data quality of {first} (Great Expectations Data Docs): {docs.resolve().as_uri()}")
    for example in examples:
        print(f"\n$ curl -H 'Authorization: Bearer $KEY' '{example}'")
        response = httpx.get(example, timeout=10, headers={"Authorization": f"Bearer {key}"})
        print(json.dumps(response.json(), indent=2))
    print()
