"""The embedded PostgreSQL (pgserver) used when no warehouse URL is configured.

The server's files live under ``<data_dir>/pg`` and are reused across commands. The server stops
when the last process that started or joined it exits; child processes (Airflow tasks, dbt)
connect through the socket path handed to them in ``TRUSTDATA_WAREHOUSE_URL``.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


def _settle_previous_server(pgdata: Path, timeout: float = 30.0) -> None:
    """Wait for a server that is starting or stopping; clear the lock file of a dead one.

    A command run right after another may find the previous server still shutting down, and
    pgserver would then join a server that is about to go. A server that exited without
    removing ``postmaster.pid`` (killed, or a zombie its parent has not reaped yet) would make
    PostgreSQL refuse to start, so its lock files (data directory and socket) are removed: its
    shared memory is gone.
    """
    import psutil

    lock = pgdata / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            lines = lock.read_text().splitlines()
        except FileNotFoundError:
            return
        if not lines or not lines[0].strip().isdigit():
            return  # being written: PostgreSQL and pgserver handle it from here
        try:
            alive = psutil.Process(int(lines[0])).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        if not alive:
            log.warning(
                "embedded PostgreSQL under %s exited without cleaning up; restarting", pgdata
            )
            lock.unlink(missing_ok=True)
            # The socket's lock file names the same PID; a zombie still answers kill(pid, 0),
            # so PostgreSQL would refuse to start while it is there.
            for leftover in pgdata.glob(".s.PGSQL.*"):
                leftover.unlink(missing_ok=True)
            return
        if len(lines) > 7 and lines[7].strip() == "ready":
            return  # running: join it
        time.sleep(0.2)


def start_embedded(data_dir: Path) -> Any:
    """Start (or join) the embedded server under ``data_dir/pg`` and return its handle."""
    _settle_previous_server(data_dir / "pg")
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        get_server = pgserver.get_server  # type: ignore[attr-defined]
        server = get_server(data_dir / "pg", cleanup_mode="stop")
    log.info("embedded PostgreSQL ready under %s", data_dir / "pg")
    return server


def socket_url(data_dir: Path, database: str) -> str:
    """Return the SQLAlchemy URL of a database in the embedded server, over its socket."""
    return f"postgresql+psycopg://postgres@/{database}?host={(data_dir / 'pg').resolve()}"


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet (idempotent)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ValueError("the warehouse URL names no database")
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)
