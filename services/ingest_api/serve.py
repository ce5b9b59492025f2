"""Serve the read API with several worker processes, each on its own SO_REUSEPORT socket.

    python -m ingest_api [--host 127.0.0.1] [--port 8000] [--workers 2] [--log-level info]

Why not ``uvicorn --workers``: its workers share one listening socket, and whichever is awake
when connections arrive accepts them all. Clients keep their connections open (Power BI, the
bench), so a burst of 50 connections could land 47 on one worker for good, which then ran at
100% CPU while the other idled (p95 62 ms at 50 clients). Here each worker binds the same port
with SO_REUSEPORT and the kernel spreads new connections over the workers' sockets.

The supervisor restarts a worker that dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

APP = "ingest_api.main:app"
#: A worker that dies within this many seconds of starting is not restarted (a broken
#: config or a taken port would otherwise restart for ever).
MIN_UPTIME = 5.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other workers may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port, or stop "
            "what holds it"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, log_level=log_level, access_log=log_level == "debug")
    uvicorn.Server(config).run(sockets=[sock])


def serve(host: str, port: int, workers: int, log_level: str = "info") -> int:
    """Run ``workers`` API processes on ``host:port`` until interrupted; return an exit code."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("this platform has no SO_REUSEPORT: run uvicorn ingest_api.main:app")
    if port == 0:
        raise SystemExit("give a --port: workers cannot share a port the system picks")
    listening_socket(host, port).close()  # a taken port fails here, once, clearly
    if workers == 1:
        _worker(host, port, log_level)
        return 0
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=_worker, args=(host, port, log_level), daemon=False)
        process.start()
        return process, time.monotonic()

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    running = [start() for _ in range(workers)]
    print(f"read API on http://{host}:{port} with {workers} workers", file=sys.stderr)
    failed = False
    while not stopping:
        time.sleep(0.5)
        for index, (process, started) in enumerate(running):
            if process.is_alive():
                continue
            if time.monotonic() - started < MIN_UPTIME:
                print(
                    f"worker {process.pid} exited ({process.exitcode}) just after starting: "
                    "stopping; its error is above",
                    file=sys.stderr,
                )
                stopping = failed = True
                break
            print(f"worker {process.pid} exited ({process.exitcode}): restarting", file=sys.stderr)
            running[index] = start()
    for process, _ in running:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process, _ in running:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m ingest_api``."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest_api", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: one per core)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return serve(args.host, args.port, args.workers, args.log_level)
