"""The embedded server's start-up copes with a previous server that died or is a zombie."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from trustdata.warehouse.embedded import _settle_previous_server


def leave_lock_files(pgdata: Path, pid: int) -> None:
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text(f"{pid}\n{pgdata}\n1\n5432\n{pgdata}\n\n0 0\nstopping\n")
    (pgdata / ".s.PGSQL.5432.lock").write_text(f"{pid}\n{pgdata}\n1\n5432\n")
    (pgdata / ".s.PGSQL.5432").touch()


def test_the_lock_files_of_a_zombie_server_are_cleared(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])  # exits, and stays a zombie until waited for
    deadline = time.monotonic() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pgdata = tmp_path / "pg"
    leave_lock_files(pgdata, child.pid)
    try:
        _settle_previous_server(pgdata, timeout=5)
    finally:
        child.wait()
    assert sorted(p.name for p in pgdata.iterdir()) == []


def test_the_lock_files_of_a_dead_server_are_cleared(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    pgdata = tmp_path / "pg"
    leave_lock_files(pgdata, child.pid)
    _settle_previous_server(pgdata, timeout=5)
    assert not (pgdata / "postmaster.pid").exists()
    assert not (pgdata / ".s.PGSQL.5432.lock").exists()
