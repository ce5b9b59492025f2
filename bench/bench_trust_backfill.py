"""Benchmark: backfill one academic year of a large trust's attendance, then the same with dlt.

    .venv/bin/python bench/bench_trust_backfill.py [--pupils 70000] [--workers 2]
        [--academies N] [--url URL] [--skip-dlt] [--dlt-pupils 3000]

What is measured. The sandbox MIS runs as a separate process on loopback, serving a trust of
``--pupils`` pupils over ``--academies`` academies (default: one per 755 pupils, the demo
trust's mix of primaries and secondaries) and a full year of session marks: 70,000 pupils are
about 26.6 million marks. The pipeline then runs the backfill path the academy DAG runs with
the param ``academic_year``, for every academy: ``land_stream`` -> ``audit_stream`` ->
``publish_stream`` for pupils (the roll the marks are checked against) and then for attendance,
through ``trustdata.orchestration``, the same calls the DAG's tasks make. Academies run in
``--workers`` processes at once, as the DAGs of different academies run in parallel; each
academy's tasks run in order. The database (``trustdata_bench_backfill`` on the embedded
server unless ``--url`` names another) is dropped and created afresh, so every run is a first
load into empty raw tables.

Printed: marks, wall time, marks per second end to end (wall time from the first request to
the last publish, the roll included), time per phase summed over academies (fetch/parse: time
inside the adapter's page generator, HTTP wait included; land: the rest of landing, COPY and
commit; audit; publish; roll: the pupils' three tasks), the peak resident memory of the pipeline
(the main process plus its workers, summed, sampled every 0.2 s; the largest single process
too), and the sandbox's peak, measured apart. PostgreSQL's own processes are in neither.
Then where the CPU went: the academy tasks' own CPU time, the sandbox's, and the rest of the
machine's busy time (PostgreSQL, mostly), each also per mark.

Before all that, a yardstick: a plain COPY of pre-parsed marks into a table with no index (the
best of three), the issue's figure for scale (about 1.5 million rows/s on its reference
machine), measured on this machine, so a run elsewhere can be read against it.

Then dlt: its ``rest_api`` source reads the same API (bearer token, following
``meta.pagination.next``) into a dataset of the same PostgreSQL, with dlt's defaults (one
pipeline run: extract, normalize, load; append only, no audit or publish). dlt is slow, so
``--dlt-pupils`` sizes its own sandbox trust (default 3,000 pupils, about 1.1 million marks);
its rate is taken as constant at full scale, which the output says. All timings are wall
clock on whatever machine runs this; note how many cores it has and whether it was shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import yaml
from psycopg import sql
from sqlalchemy.engine import make_url

#: Pupils per academy at sandbox scale 1.0: the demo trust's 3,020 over four academies.
PUPILS_PER_ACADEMY = 755
TOKEN = "sandbox-demo-token"
TOKEN_ENV = "TD_BENCH_TOKEN"
BENCH_DATABASE = "trustdata_bench_backfill"


@dataclass
class Sandbox:
    """A sandbox MIS process and its base URL."""

    process: subprocess.Popen[bytes]
    base_url: str
    schools: list[tuple[str, str]]  # (school id, phase)


@contextlib.contextmanager
def sandbox(pupils: int, academies: int) -> Iterator[Sandbox]:
    """Start the sandbox MIS serving ``pupils`` over ``academies``; stop it afterwards."""
    from sandbox_mis.synth import school_specs

    scale = pupils / (academies * PUPILS_PER_ACADEMY)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "sandbox_mis", "--port", str(port), "--scale", f"{scale}"]
    process = subprocess.Popen(
        [*command, "--academies", str(academies)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1.0"
        deadline = time.monotonic() + 900
        while True:
            try:
                httpx.get(f"{base}/schools/none")
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the sandbox MIS did not start") from None
                time.sleep(0.2)
        yield Sandbox(process, base, [(s.id, s.phase) for s in school_specs(academies)])
    finally:
        process.terminate()
        process.wait()


def write_config(folder: Path, box: Sandbox) -> str:
    """A trust config naming every sandbox school as an academy; return its path."""
    academies = [
        {
            "id": f"academy_{number:03d}",
            "urn": f"{990000 + number}",
            "name": f"Bench Academy {number}",
            "phase": phase,
            "hub": "north" if number % 2 else "south",
            "adapter": {
                "kind": "wonde",
                "options": {
                    "base_url": box.base_url,
                    "school_id": school,
                    "per_page": 1000,
                    # Above what one academy's landing reaches from the local sandbox: the
                    # benchmark measures the pipeline, not the politeness cap meant for a
                    # remote MIS (at 100, landing waited on it 45% of the time), and dlt's
                    # source runs without one.
                    "max_requests_per_second": 1000,
                },
                "credential": {"env": TOKEN_ENV},
            },
        }
        for number, (school, phase) in enumerate(box.schools, start=1)
    ]
    config = {
        "id": "bench_trust",
        "name": "Bench Learning Trust",
        "hubs": [{"id": "north", "name": "North Hub"}, {"id": "south", "name": "South Hub"}],
        "academies": academies,
    }
    path = folder / "trust.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return str(path)


def fresh_database(url: str) -> None:
    """Drop and create the database ``url`` names (a benchmark's own: its name says bench)."""
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def warehouse(url: str | None) -> str:
    """The benchmark's warehouse URL: ``url``, or its database on the embedded server."""
    if url is None:
        from trustdata.config.settings import Settings
        from trustdata.warehouse.embedded import socket_url, start_embedded

        data_dir = Settings().data_dir  # not get_settings(): it caches the URL unset
        _keep.append(start_embedded(data_dir))
        url = socket_url(data_dir, BENCH_DATABASE)
    fresh_database(url)
    # Before anything reads the settings: every task of this process and its workers uses it.
    os.environ["TRUSTDATA_WAREHOUSE_URL"] = url
    return url


_keep: list[Any] = []  # the embedded server's handle: it lives as long as this process


# --- the pipeline, in worker processes ---------------------------------------------------


def _init_worker(url: str) -> None:
    os.environ["TRUSTDATA_WAREHOUSE_URL"] = url
    os.environ[TOKEN_ENV] = TOKEN
    from trustdata.adapters.wonde import WondeAdapter

    fetch = WondeAdapter.fetch

    def timed_fetch(self: WondeAdapter, stream: Any, window: Any) -> Iterator[Any]:
        pages = fetch(self, stream, window)
        while True:
            started = time.perf_counter()
            try:
                page = next(pages)
            except StopIteration:
                _fetch_seconds[0] += time.perf_counter() - started
                return
            _fetch_seconds[0] += time.perf_counter() - started
            yield page

    WondeAdapter.fetch = timed_fetch  # type: ignore[method-assign]


_fetch_seconds = [0.0]


def backfill_academy(academy_id: str, config: str, year: str) -> dict[str, float]:
    """The academy DAG's backfill for pupils then attendance; seconds per phase, and marks."""
    from trustdata import orchestration

    times = {"roll": 0.0, "fetch": 0.0, "land": 0.0, "audit": 0.0, "publish": 0.0, "marks": 0.0}
    cpu = time.process_time()
    started = time.perf_counter()
    for stream in ("pupils", "attendance"):
        _fetch_seconds[0] = 0.0
        phase = time.perf_counter()
        landed = orchestration.land_stream(
            academy_id=academy_id, stream=stream, config_path=config, academic_year=year
        )
        landing = time.perf_counter() - phase
        phase = time.perf_counter()
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
        auditing = time.perf_counter() - phase
        phase = time.perf_counter()
        orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config)
        publishing = time.perf_counter() - phase
        if stream == "pupils":
            times["roll"] = time.perf_counter() - started
            continue
        times["fetch"] = _fetch_seconds[0]
        times["land"] = landing - _fetch_seconds[0]
        times["audit"] = auditing
        times["publish"] = publishing
        times["marks"] = landed["rows_landed"]
    times["cpu"] = time.process_time() - cpu
    return times


@dataclass
class MemoryWatch:
    """Samples the summed RSS of this process and its children, except the ones named."""

    skip: set[int]
    peak_total: float = 0.0
    peak_single: float = 0.0
    peaks: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> MemoryWatch:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0.0
            for process in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    if process.pid in self.skip or "postgres" in process.name():
                        continue
                    rss = process.memory_info().rss / 2**20
                    total += rss
                    self.peak_single = max(self.peak_single, rss)
            self.peak_total = max(self.peak_total, total)


def run_pipeline(url: str, box: Sandbox, workers: int, year: str) -> dict[str, float]:
    """Backfill every academy, ``workers`` at a time; print and return the figures."""
    from trustdata import orchestration
    from trustdata.warehouse.engine import warehouse_url

    if warehouse_url() != url:
        raise SystemExit("the settings name another warehouse: the benchmark writes only its own")
    os.environ[TOKEN_ENV] = TOKEN
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), box)
        orchestration.prepare_warehouse(config_path=config)
        # Secondaries first: the big academies start early, so the last to finish is small.
        order = [
            f"academy_{n:03d}"
            for n, _ in sorted(
                enumerate(box.schools, start=1), key=lambda item: item[1][1] != "secondary"
            )
        ]
        totals: dict[str, float] = {}
        sandbox_process = psutil.Process(box.process.pid)
        sandbox_peak = [0.0]

        def watch_sandbox() -> None:
            while box.process.poll() is None and not done.is_set():
                with contextlib.suppress(psutil.Error):
                    rss = sandbox_process.memory_info().rss / 2**20
                    sandbox_peak[0] = max(sandbox_peak[0], rss)
                time.sleep(0.2)

        done = threading.Event()
        threading.Thread(target=watch_sandbox, daemon=True).start()
        sandbox_cpu = sum(sandbox_process.cpu_times()[:2])
        machine = psutil.cpu_times()
        started = time.perf_counter()
        with (
            MemoryWatch(skip={box.process.pid}) as memory,
            ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(url,)
            ) as pool,
        ):
            futures = [pool.submit(backfill_academy, a, config, year) for a in order]
            for future in as_completed(futures):
                for phase, seconds in future.result().items():
                    totals[phase] = totals.get(phase, 0.0) + seconds
        wall = time.perf_counter() - started
        done.set()
        sandbox_cpu = sum(sandbox_process.cpu_times()[:2]) - sandbox_cpu
        after = psutil.cpu_times()
    idle = sum(getattr(after, f, 0.0) - getattr(machine, f, 0.0) for f in ("idle", "iowait"))
    busy = sum(after) - sum(machine) - idle
    marks = int(totals.pop("marks"))
    pipeline_cpu = totals.pop("cpu")
    print(f"pipeline: {len(order)} academies, {marks:,} marks, {workers} worker processes")
    print(f"  wall time {wall:,.1f} s; end to end {marks / wall:,.0f} marks/s")
    print("  phase seconds, summed over academies (workers overlap, so they exceed wall time):")
    for phase in ("roll", "fetch", "land", "audit", "publish"):
        label = {"roll": "pupils (land+audit+publish)", "fetch": "fetch/parse (HTTP+JSON)"}
        print(f"    {label.get(phase, phase):28s} {totals[phase]:9.1f} s")
    print(
        f"  peak RSS of the pipeline: {memory.peak_total:,.0f} MB summed over its "
        f"{workers + 1} processes (largest single process {memory.peak_single:,.0f} MB)"
    )
    print(f"  sandbox MIS (apart): peak RSS {sandbox_peak[0]:,.0f} MB, CPU {sandbox_cpu:,.1f} s")
    rest = busy - pipeline_cpu - sandbox_cpu
    print(
        f"  CPU over the run: the machine busy {busy:,.1f} core-s, idle {idle:,.1f}; the pipeline's "
        f"academy tasks {pipeline_cpu:,.1f} ({pipeline_cpu / marks * 1e6:.1f} us a mark), the "
        f"sandbox {sandbox_cpu:,.1f}, the rest (PostgreSQL, mostly) {rest:,.1f} "
        f"({rest / marks * 1e6:.1f} us a mark)"
    )
    return {"marks": marks, "wall": wall}


# --- the machine's yardstick --------------------------------------------------------------


def plain_copy_rate(url: str, rows: int = 2_000_000, runs: int = 3) -> float:
    """Rows/s of a plain COPY of pre-parsed marks into a table with no index, one process.

    The issue's scale figure ("about 1.5 million rows/s on such a machine") measured here, so
    the pipeline's rate can be read against what this machine and server can do at all. The
    rows (mark columns, as the raw table holds them) are formatted before the clock starts.
    The best of ``runs`` COPYs, each into a new table: one run alone was seen to vary from
    0.7 to 1.0 million rows/s on one machine, and the best is what the machine can do.
    """
    line = "academy_001\tA123456789012\t{day}\t{session}\t/\t/\tM{n}\t2025-09-08 09:00:00+00\n"
    text = "".join(
        line.format(day=f"2025-09-{1 + n % 28:02d}", session=("AM", "PM")[n % 2], n=n)
        for n in range(rows)
    ).encode()
    best = float("inf")
    with psycopg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as conn:
        for _ in range(runs):
            conn.execute(
                "CREATE TABLE bench_plain_copy (academy_id text, upn text, mark_date date, "
                "session text, code text, source_code text, mis_mark_id text, "
                "source_updated_at timestamptz)"
            )
            started = time.perf_counter()
            with conn.cursor().copy("COPY bench_plain_copy FROM STDIN") as copy:
                for at in range(0, len(text), 1 << 20):
                    copy.write(text[at : at + (1 << 20)])
            conn.commit()
            best = min(best, time.perf_counter() - started)
            conn.execute("DROP TABLE bench_plain_copy")
            conn.commit()
    return rows / best


# --- dlt ---------------------------------------------------------------------------------


def run_dlt(url: str, box: Sandbox) -> tuple[int, float]:
    """Load every school's session marks with dlt's rest_api source; (marks, seconds)."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": f"{box.base_url}/",
                "auth": {"type": "bearer", "token": TOKEN},
                "paginator": {"type": "json_link", "next_url_path": "meta.pagination.next"},
            },
            "resource_defaults": {
                "write_disposition": "append",
                "endpoint": {"params": {"per_page": 1000}, "data_selector": "data"},
            },
            "resources": [
                {
                    "name": f"attendance_{school.lower()}",
                    "table_name": "attendance_session",
                    "endpoint": {"path": f"schools/{school}/attendance/session"},
                }
                for school, _ in box.schools
            ],
        }
    )
    parsed = make_url(url)
    credentials = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    # dlt insists on a password (trust auth ignores it) and a host: the embedded server's
    # socket folder goes in the query, where libpq reads it.
    destination = parsed.set(
        drivername="postgresql",
        password=parsed.password or "unused",
        host=parsed.host or "localhost",
    ).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as folder:
        pipeline = dlt.pipeline(
            pipeline_name="bench_trust_backfill",
            destination=dlt.destinations.postgres(credentials=destination),
            dataset_name="dlt_bench",
            pipelines_dir=folder,
        )
        started = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - started
    with psycopg.connect(credentials) as conn:
        row = conn.execute("SELECT count(*) FROM dlt_bench.attendance_session").fetchone()
    return int(row[0]) if row else 0, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=70_000)
    parser.add_argument("--academies", type=int, help="default: one per 755 pupils")
    parser.add_argument("--workers", type=int, default=2, help="academies landed at once")
    parser.add_argument("--year", default="2025-26", help="the academic year backfilled")
    parser.add_argument(
        "--url",
        help="PostgreSQL URL with a database named *bench*; "
        f"default: {BENCH_DATABASE} on the embedded server",
    )
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--dlt-pupils", type=int, default=3_000, help="dlt's sample trust")
    args = parser.parse_args()
    academies = args.academies or max(1, round(args.pupils / PUPILS_PER_ACADEMY))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    url = warehouse(args.url)
    copy_rate = plain_copy_rate(url)
    print(
        f"yardstick: a plain COPY of pre-parsed marks runs at {copy_rate:,.0f} rows/s here "
        "(the issue's reference machine: about 1,500,000)"
    )
    with sandbox(args.pupils, academies) as box:
        ours = run_pipeline(url, box, args.workers, args.year)
    ours_rate = ours["marks"] / ours["wall"]
    print(
        f"  the pipeline runs at {ours_rate / copy_rate:.1%} of a plain COPY here; the issue's "
        f"target, 150,000 marks/s against 1.5M rows/s, is 10%"
    )
    if args.skip_dlt:
        return
    dlt_academies = max(1, round(args.dlt_pupils / PUPILS_PER_ACADEMY))
    with sandbox(args.dlt_pupils, dlt_academies) as box:
        dlt_marks, dlt_seconds = run_dlt(url, box)
    dlt_rate = dlt_marks / dlt_seconds
    sample = dlt_marks != ours["marks"]
    print(
        f"dlt rest_api -> postgres: {dlt_marks:,} marks in {dlt_seconds:,.1f} s, "
        f"{dlt_rate:,.0f} marks/s"
    )
    if sample:
        print(
            f"  measured on a sample of {args.dlt_pupils:,} pupils ({dlt_academies} academies);"
            f" at that rate the full {ours['marks']:,} marks would take about "
            f"{ours['marks'] / dlt_rate / 60:,.0f} min (assumes dlt's rate holds at scale)"
        )
    print(
        f"ratio: the pipeline is {ours_rate / dlt_rate:,.1f} x dlt's rate "
        "(the pipeline also audits and publishes; dlt only appends)"
    )


if __name__ == "__main__":
    main()
