"""Read API under load: p50/p95/p99 latency and requests per second of the gap endpoints.

    TRUSTDATA_WAREHOUSE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/trustdata_bench2 \\
        .venv/bin/python bench/bench_api.py [--clients 50] [--seconds 20] [--workers 2]

The warehouse must hold built marts: bench/bench_warehouse_build.py makes a 70,000-pupil trust
(20 academies, 27 million marks) and builds them. The API runs as ``python -m ingest_api`` in
its own processes (``--workers``, each on its own SO_REUSEPORT socket) on loopback with the request budget off; the load comes from this
process (a minimal keep-alive HTTP/1.1 client, so that the load costs the shared cores little):
``--clients`` connections, each sending its next request as soon as the last is
answered (closed loop: a stress test of throughput), then each at ``--rate`` requests a second
(paced: the latency users see at that load), for ``--seconds`` after a 3-second warm-up, spread over the trust's,
every hub's and every academy's attendance gap and attendance measures (one year, terms, the
disadvantaged/other grouping). A client with the trust scope is created for the run and revoked
after it. Both sides share the machine's cores, as they would on a 2-core host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import select, text

from trustdata.access.clients import create_client, revoke_client
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.migrate import upgrade
from trustdata.warehouse.tables import academies, hubs, trust

ROOT = Path(__file__).resolve().parents[1]


def _targets(url: str) -> list[tuple[str, str]]:
    """(kind, path) of every request the clients choose from."""
    engine = get_engine(url)
    with engine.connect() as conn:
        trust_id = conn.execute(select(trust.c.trust_id)).scalar_one()
        hub_ids = list(conn.execute(select(hubs.c.hub_id)).scalars())
        academy_ids = list(conn.execute(select(academies.c.academy_id)).scalars())
        year = conn.execute(
            text("SELECT max(academic_year) FROM marts.mart_attendance_gap")
        ).scalar_one()
    units = ["trust"] + [f"hubs/{h}" for h in hub_ids] + [f"academies/{a}" for a in academy_ids]
    found: list[tuple[str, str]] = []
    for unit in units:
        found.append(("attendance-gap", f"/api/v1/{unit}/attendance-gap?academic_year={year}"))
        found.append(
            (
                "attendance",
                f"/api/v1/{unit}/attendance?academic_year={year}"
                "&period_type=term&group_type=disadvantage",
            )
        )
    print(f"trust {trust_id}: {len(hub_ids)} hubs, {len(academy_ids)} academies, year {year}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "TRUSTDATA_WAREHOUSE_URL": url,
        "TRUSTDATA_API_RATE_LIMIT_PER_MINUTE": "0",
    }
    command = [sys.executable, "-m", "ingest_api", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the API did not start within 60 s")


class _Connection:
    """A minimal HTTP/1.1 keep-alive client: the load must cost little CPU, since it shares the
    machine with the API (httpx's async client spent about 3 ms of CPU a request, more than the
    API itself, and capped the run at about 300 requests/s)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.headers)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def _load(
    port: int,
    key: str,
    targets: list[tuple[str, str]],
    clients: int,
    seconds: float,
    rate: float,
) -> tuple[dict[str, list[float]], int, float]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors = 0
    warm_until = time.perf_counter() + 3
    stop_at = warm_until + seconds

    async def client(rng: random.Random) -> None:
        nonlocal errors
        connection = _Connection(port, key)
        # Paced clients start at random offsets and keep to a schedule, so a slow answer
        # delays the next request only when it overruns the slot (latency, not throughput).
        due = time.perf_counter() + (rng.random() / rate if rate else 0)
        while (now := time.perf_counter()) < stop_at:
            if rate:
                await asyncio.sleep(max(0.0, due - now))
                now, due = time.perf_counter(), max(due + 1 / rate, time.perf_counter())
            kind, path = rng.choice(targets)
            status = await connection.get(path)
            took = time.perf_counter() - now
            if now >= warm_until:
                if status != 200:
                    errors += 1
                latencies[kind].append(took)
        if connection.writer is not None:
            connection.writer.close()

    await asyncio.gather(*(client(random.Random(n)) for n in range(clients)))
    return latencies, errors, seconds


def _percentiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    p50, p95, p99 = cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="requests/s each client sends (repeatable); 0 = closed loop. Default: 0 and 10",
    )
    args = parser.parse_args()
    url = warehouse_url()
    upgrade(url)  # the API's own tables (clients) in a warehouse built by an older version
    targets = _targets(url)
    engine = get_engine(url)
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    key = create_client(engine, client_id=client_id, scopes=("trust",))
    port = _free_port()
    server = _serve(url, port, args.workers)
    try:
        for rate in args.rate or [0.0, 10.0]:
            latencies, errors, seconds = asyncio.run(
                _load(port, key, targets, args.clients, args.seconds, rate)
            )
            every = [v for values in latencies.values() for v in values]
            mode = f"each at {rate:g} requests/s" if rate else "closed loop"
            print(
                f"{args.clients} concurrent clients ({mode}), {args.workers} API workers, "
                f"{seconds:.0f} s: {len(every)} requests, {len(every) / seconds:.0f} "
                f"requests/s, {errors} not 200"
            )
            print(f"  all            {_percentiles(every)}")
            for kind, values in sorted(latencies.items()):
                print(f"  {kind:<14} {_percentiles(values)}  ({len(values)} requests)")
    finally:
        server.terminate()
        server.wait(timeout=30)
        revoke_client(engine, client_id=client_id)


if __name__ == "__main__":
    main()
