"""``python -m ingest_api``: worker processes on SO_REUSEPORT sockets, supervised."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import write_trust_config

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, config: Path, *extra: str) -> subprocess.Popen[str]:
    env = os.environ | {"TRUSTDATA_TRUST_CONFIG": str(config)}
    command = [sys.executable, "-m", "ingest_api", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(
        [*command, *extra], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )


def _healthy(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("the API did not answer /health within 60 s")


@pytest.fixture
def config(tmp_path: Path, warehouse_url: str) -> Path:
    return write_trust_config(tmp_path, "http://127.0.0.1:9/v1.0")


@pytest.fixture
def served(config: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = _free_port()
    server = _serve(port, config, "--workers", "2")
    try:
        _healthy(port, server)
        yield port, server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _workers(server: subprocess.Popen[str]) -> list[psutil.Process]:
    """The server's live worker processes (not its resource tracker, nor a dead worker)."""
    found = []
    for child in psutil.Process(server.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def test_workers_share_the_port_are_restarted_and_stop_on_sigterm(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, server = served
    workers = _workers(server)
    assert len(workers) == 2
    # Many keep-alive connections at once all get answered (by either worker).
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(20)]
    try:
        assert all(c.get("/health").status_code == 200 for c in clients)
    finally:
        for client in clients:
            client.close()

    # A worker that dies after running a while is replaced.
    time.sleep(max(0.0, 5.5 - (time.time() - min(w.create_time() for w in workers))))
    workers[0].kill()
    deadline = time.monotonic() + 30
    while {w.pid for w in _workers(server)} & {workers[0].pid} or len(_workers(server)) < 2:
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.2)
    _healthy(port, server)

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=20) == 0


def test_a_taken_port_is_refused_with_a_clear_message(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _serve(port, config, "--workers", "2")
        _, err = server.communicate(timeout=60)
    assert server.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
