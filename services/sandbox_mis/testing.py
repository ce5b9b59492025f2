"""Run the sandbox MIS in a background thread for tests, benchmarks and notebooks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from sandbox_mis.app import BASE_PATH, create_app
from sandbox_mis.faults import Faults
from sandbox_mis.models import Dataset

_STARTUP_TIMEOUT_SECONDS = 10.0


@contextmanager
def running_sandbox(dataset: Dataset, faults: Faults | None = None) -> Iterator[str]:
    """Serve ``dataset`` on a free port of 127.0.0.1; yield the base URL ending in ``/v1.0``.

    The server is accepting connections when the block starts and is stopped when it ends.
    ``faults`` are injected from the first request (see :mod:`sandbox_mis.faults`).
    """
    with running_app(create_app(dataset, faults)) as root:
        yield f"{root}{BASE_PATH}"


@contextmanager
def running_app(app: ASGIApp, *, lifespan: bool = False) -> Iterator[str]:
    """Serve any ASGI app on a free port of 127.0.0.1 in a thread; yield its root URL.

    With ``lifespan`` the app's startup and shutdown run too (background work it starts).
    """
    with socket.socket() as sock:
        # Binding here and handing the socket to uvicorn avoids racing another process for
        # the port between choosing it and listening on it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on" if lifespan else "off")
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="asgi-app", daemon=True
        )
        thread.start()
        try:
            _wait_until_started(server, thread)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=_STARTUP_TIMEOUT_SECONDS)


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox MIS server stopped while starting")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the sandbox MIS server did not start in time")
        time.sleep(0.01)
