"""Run the real ``airflow`` CLI on a test trust config and the session's warehouse server.

Airflow's metadata database sits on that server beside the session's warehouse, named after
it (``<warehouse>_airflow``), so test sessions running at once never share one; its home lives
under the test's tmp folder.

``airflow(env, ...)`` runs one ``airflow`` process per command. ``WarmAirflow(env, log_dir)``
runs a test's (or a module's) commands in turn in one warm Airflow process
(``trustdata.airflow_batch``), through the same CLI entry point: each ``airflow`` process pays
some 10-15 s of imports, DAG parsing and execution-API start-up before it does any work.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from trustdata.airflow_batch import AirflowCli
from trustdata.airflow_env import airflow_command, airflow_environment
from trustdata.config.settings import PROJECT_ROOT, Settings


def airflow_env(tmp_path: Path, config: Path, warehouse_url: str, **extra: str) -> dict[str, str]:
    """The environment of an Airflow process over ``config``, with ``extra`` variables."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, trust_config=config, warehouse_url=warehouse_url)
    env = airflow_environment(
        settings,
        warehouse_url,
        metadata=metadata_url(warehouse_url),
    )
    env.update(
        TRUSTDATA_TRUST_CONFIG=str(config),
        TRUSTDATA_DATA_DIR=str(data),
        TRUSTDATA_TASK_RETRIES="0",
        **extra,
    )
    return env


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` in ``env``; the output is stdout and stderr together."""
    return subprocess.run(
        airflow_command(*args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


class WarmAirflow:
    """``airflow ARGS`` commands run in turn in one warm process with ``env``; each command's
    output goes to its own file under ``log_dir`` and comes back as ``airflow()`` returns it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.commands = 0
        self.cli = AirflowCli(env, cwd=PROJECT_ROOT)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.commands += 1
        log = self.log_dir / f"{self.commands:02d}-{'-'.join(args[:2])}.log"
        code = self.cli.run(args, log, timeout=300)
        output = log.read_text(encoding="utf-8", errors="replace")
        return subprocess.CompletedProcess(airflow_command(*args), code, output)

    def close(self) -> None:
        self.cli.close()

    def __enter__(self) -> WarmAirflow:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def metadata_url(warehouse_url: str) -> str:
    """The URL of the test session's Airflow metadata database beside its warehouse."""
    url = make_url(warehouse_url)
    return url.set(database=f"{url.database}_airflow").render_as_string(hide_password=False)
