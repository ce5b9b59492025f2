"""``make airflow-celery``: the quick start's Airflow on the CeleryExecutor, on this machine.

Starts the API server (UI on http://localhost:8080), the scheduler, the DAG processor and one
``airflow celery worker``, each a process of its own as in production. The broker is Redis on
loopback unless ``AIRFLOW__CELERY__BROKER_URL`` names another (``infra/celery/*.env``); the
result backend is Airflow's metadata database. Ctrl-C (or SIGTERM), or any component exiting,
stops them all. Keep ``make sandbox`` running beside it so the demo DAGs have an MIS to read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

from kombu.utils.url import maybe_sanitize_url

from trustdata.airflow_env import airflow_command, airflow_environment
from trustdata.config.settings import get_settings
from trustdata.warehouse.engine import warehouse_url

COMPONENTS = (
    ("api-server", "--port", "8080"),
    ("scheduler",),
    ("dag-processor",),
    ("celery", "worker"),
)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Run the components until Ctrl-C (or SIGTERM) or until one exits; return an exit code."""
    # Explicitly: a shell starting this in the background would have SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.setdefault("TRUSTDATA_AIRFLOW_EXECUTOR", "celery")
    settings = get_settings()
    # Starts (or joins) the embedded PostgreSQL when no warehouse URL is set; this process
    # holds it for the components, which reach it through the socket in their environment.
    env = airflow_environment(settings, warehouse_url(settings))
    print(f"==> broker {maybe_sanitize_url(env['AIRFLOW__CELERY__BROKER_URL'])}", flush=True)
    # Also writes airflow.cfg, whose generated secrets ([api_auth] jwt_secret, [api]
    # secret_key) every component must share.
    if subprocess.call(airflow_command("db", "migrate"), env=env) != 0:
        print("error: airflow db migrate failed", file=sys.stderr)
        return 1
    processes = [
        # A session of its own: Ctrl-C reaches this launcher, which stops each in turn.
        subprocess.Popen(airflow_command(*args), env=env, start_new_session=True)
        for args in COMPONENTS
    ]
    code = 1  # a component exited by itself
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        code = 0
    finally:
        # A second Ctrl-C must not leave components running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return code


if __name__ == "__main__":
    sys.exit(main())
