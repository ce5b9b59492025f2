"""Run the real ``airflow`` CLI on a test trust config and the session's warehouse server.

Airflow's metadata database sits on that server beside the session's warehouse, named after
it (``<warehouse>_airflow``), so test sessions running at once never share one; its home lives
under the test's tmp folder.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from trustdata.airflow_env import airflow_command, airflow_environment
from trustdata.config.settings import Settings


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


def metadata_url(warehouse_url: str) -> str:
    """The URL of the test session's Airflow metadata database beside its warehouse."""
    url = make_url(warehouse_url)
    return url.set(database=f"{url.database}_airflow").render_as_string(hide_password=False)
