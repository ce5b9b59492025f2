"""Run the dbt project in ``transforms/`` against the warehouse.

dbt reads its connection from the ``TRUSTDATA_DBT_*`` environment variables that
``transforms/profiles.yml`` names; this module derives them from the warehouse's SQLAlchemy URL,
so the pipeline keeps one connection setting.

dbt runs in-process through ``dbtRunner``. Successive runs against different databases in one
process work (the tests do this); dbt does leave its own stdout/file loggers and a stderr
handler on the root logger behind, which an already-configured host (Airflow) keeps using.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dbt.cli.main import dbtRunner
from sqlalchemy.engine import make_url

PROJECT_DIR = Path(__file__).resolve().parents[3] / "transforms"
"""The dbt project in the repository (``profiles.yml`` lives beside ``dbt_project.yml``)."""

_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


class DbtRunError(RuntimeError):
    """A dbt command failed; ``failed_nodes`` names the models, seeds and tests that failed."""

    def __init__(
        self, command: list[str], failed_nodes: list[str], cause: str | None, log_dir: Path
    ) -> None:
        self.failed_nodes = failed_nodes
        # Node ids only: dbt's test output holds counts, never the failing rows (pupil data).
        detail = ", ".join(failed_nodes) if failed_nodes else (cause or "no node reported")
        super().__init__(f"dbt {' '.join(command)} failed: {detail} (log: {log_dir}/dbt.log)")


def dbt_env(url: str) -> dict[str, str]:
    """Return the ``TRUSTDATA_DBT_*`` variables for a ``postgresql+psycopg://`` URL.

    The host may be given as ``?host=/socket/dir`` (psycopg's form for a unix socket).
    """
    parsed = make_url(url)
    query_host = parsed.query.get("host")
    # As in psycopg, ?host= wins over the authority part.
    host = query_host if isinstance(query_host, str) else parsed.host
    if not host or not parsed.database:
        raise ValueError("the warehouse URL needs a host (or ?host=socket-dir) and a database")
    return {
        "TRUSTDATA_DBT_HOST": host,
        "TRUSTDATA_DBT_PORT": str(parsed.port or 5432),
        "TRUSTDATA_DBT_USER": parsed.username or "postgres",
        "TRUSTDATA_DBT_PASSWORD": parsed.password or "",
        "TRUSTDATA_DBT_DBNAME": parsed.database,
    }


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    # dbt reads env_var() from os.environ; restore it afterwards so one run's database or
    # password never leaks into the next run or the rest of the process.
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_dbt(
    command: list[str],
    *,
    url: str,
    data_dir: Path | None = None,
    project_dir: Path | None = None,
) -> None:
    """Run a dbt command (e.g. ``["build"]``) against the database at ``url``.

    ``target/`` and ``logs/`` go under ``data_dir`` (default: the project's git-ignored
    ``target/`` and ``logs/``). Not safe to call from two threads at once: dbt runs in-process
    and reads its settings from the process environment. Raises ``DbtRunError`` naming the
    failed nodes when the command does not succeed.
    """
    project = project_dir or PROJECT_DIR
    work = data_dir or project
    # Environment rather than --target-path/--log-path: every dbt subcommand honours these.
    env = dbt_env(url) | {
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    args = [*command, "--project-dir", str(project), "--profiles-dir", str(project)]
    with _environ(env):
        outcome = dbtRunner().invoke(args)
    if outcome.success:
        return
    results = getattr(outcome.result, "results", None) or []
    failed = [result.node.unique_id for result in results if str(result.status) in _FAILED_STATUSES]
    cause = str(outcome.exception) if outcome.exception is not None else None
    raise DbtRunError(command, failed, cause, work / "logs")
