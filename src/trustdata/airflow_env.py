"""The environment an Airflow process of the quick start runs with.

Airflow's metadata database lives in the same PostgreSQL as the warehouse (database
``airflow``), its home under the data dir, and its DAGs in the repository's ``dags/``. Values
the user already set (``AIRFLOW__...``) win.

The executor is the LocalExecutor unless ``TRUSTDATA_AIRFLOW_EXECUTOR=celery``: then it is the
CeleryExecutor, with Redis on loopback as broker unless ``AIRFLOW__CELERY__BROKER_URL`` names
another (``amqp://...`` for RabbitMQ) and the metadata database as result backend. The API
server, scheduler, DAG processor and ``airflow celery worker`` then run as separate processes;
``infra/README.md`` says how.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from trustdata.config.settings import PROJECT_ROOT, Settings
from trustdata.warehouse.embedded import ensure_database

#: ``TRUSTDATA_AIRFLOW_EXECUTOR`` values, and the Airflow settings each one defaults.
EXECUTORS: dict[str, dict[str, str]] = {
    "local": {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"},
    "celery": {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
    },
}


def airflow_environment(
    settings: Settings, warehouse: str, *, metadata: str | None = None
) -> dict[str, str]:
    """Return os.environ plus the quick start's Airflow settings.

    The metadata database is ``metadata`` when given, else ``airflow`` beside the warehouse.
    """
    env = dict(os.environ)
    metadata_url = metadata or (
        make_url(warehouse).set(database="airflow").render_as_string(hide_password=False)
    )
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env:
        ensure_database(metadata_url)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url
        # Airflow would otherwise derive an asyncpg URL; psycopg 3 serves both sides.
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = (
            make_url(metadata_url)
            .set(drivername="postgresql+psycopg_async")
            .render_as_string(hide_password=False)
        )
    home = settings.data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **executor_settings(env.get("TRUSTDATA_AIRFLOW_EXECUTOR", "local")),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "TRUSTDATA_WAREHOUSE_URL": warehouse,
        "TRUSTDATA_TRUST_CONFIG": str(settings.trust_config),
        "TRUSTDATA_DATA_DIR": str(settings.data_dir),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    # `airflow standalone` starts its components as `airflow ...` found on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Task processes must import the project and the DAG folder's helpers.
    paths = [str(PROJECT_ROOT / "dags"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def executor_settings(name: str) -> dict[str, str]:
    """The Airflow settings ``TRUSTDATA_AIRFLOW_EXECUTOR=name`` selects; KeyError if none."""
    try:
        return EXECUTORS[name]
    except KeyError:
        known = ", ".join(EXECUTORS)
        raise KeyError(
            f"TRUSTDATA_AIRFLOW_EXECUTOR={name!r} is not an executor (known: {known})"
        ) from None


def airflow_command(*args: str) -> list[str]:
    """The ``airflow`` CLI of this environment, with ``args``."""
    return [str(Path(sys.executable).with_name("airflow")), *args]
