"""Benchmark: build the attendance marts for a trust of 70,000 pupils, then one day more.

    .venv/bin/python bench/bench_warehouse_build.py [--pupils 70000] [--academies 20]
        [--url URL] [--reuse] [--models-only] [--skip-full]

What is measured. A synthetic trust is written straight into the raw tables (server-side
``INSERT ... SELECT``; only the UPNs are made in Python, by ``make_upn``): one trust, four hubs,
``--academies`` academies (seven in ten primary), ``--pupils`` pupils spread evenly, 1% of them
moving to another academy of the same phase on 5 January 2026 (a pupil record and an enrolment
at each), FSM periods (a quarter of pupils, some ended years ago), CLA periods, PLAC and
service-child flags, and an AM and a PM mark on every open day of 2025-26 in the calendar seed
(weekdays of its half terms, closures left out) but the last: about 27 million marks. Absence
varies by pupil (most rarely absent, a few persistently, some severely) and is higher for FSM
pupils; codes are a realistic mix (/ \\ L U V B, I M C, N O G, D).

Then ``dbt build`` runs from nothing (the dbt schemas dropped), and after it the last open day
is added for one academy (its whole roll, AM and PM) with a few dozen corrections to its marks
of the days before (N replaced by I, the old versions kept in raw.attendance_marks_superseded,
as the pipeline's publish does), and ``dbt build`` runs again: the one-day incremental build.
Every mark is published on the evening of its day, as daily loads would be, so the attendance
fact's one-day look-back re-does the previous day at every academy, as it does each day in
steady running.
Printed for each: marks, wall time, the slowest models and tests (dbt's run_results), their
time summed by resource type (two dbt threads, so the sums can exceed the wall time), and the
peak resident memory of this process (dbt runs in it) and of the PostgreSQL server's processes
(summed and largest; RSS counts shared buffers in each process that touched them).
``--models-only`` runs ``dbt run`` instead of ``dbt build`` (no tests); ``--project-dir``
builds another checkout's ``transforms/`` (e.g. main's, for a figure before a change).

The database (``trustdata_bench_warehouse`` on the embedded server unless ``--url`` or
TRUSTDATA_WAREHOUSE_URL names another; its name must contain "bench") is dropped and created
afresh unless ``--reuse`` finds the synthetic trust already there. Wall-clock figures on
whatever machine runs this: note its cores and whether it was shared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench_trust_backfill import fresh_database
from trustdata.domain.upn import make_upn
from trustdata.warehouse.dbt import PROJECT_DIR, run_dbt
from trustdata.warehouse.engine import psycopg_conninfo
from trustdata.warehouse.migrate import upgrade
from trustdata.warehouse.partitions import empty_leaf_sql, leaf_name, year_of

BENCH_DATABASE = "trustdata_bench_warehouse"
YEAR_START = 2025
LOADED = datetime(2026, 7, 21, 18, tzinfo=UTC)
BATCH = uuid.UUID("00000000-0000-0000-0000-0000000000b1")
DBT_SCHEMAS = ("marts", "analytics_intermediate", "analytics_staging", "analytics")
PRIMARY_SHARE = 0.7
CORRECTIONS = 40


def open_days(year_start: int) -> list[date]:
    """The year's open days from the seeds: weekdays of its half terms, closures left out."""
    seeds = PROJECT_DIR / "seeds"
    with (seeds / "academic_closures.csv").open(encoding="utf-8") as handle:
        closed = {date.fromisoformat(row["closure_date"]) for row in csv.DictReader(handle)}
    days: list[date] = []
    with (seeds / "academic_calendar.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if int(row["academic_year_start"]) != year_start:
                continue
            day, last = date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"])
            while day <= last:
                if day.weekday() < 5 and day not in closed:
                    days.append(day)
                day += timedelta(days=1)
    return sorted(days)


# --- the synthetic trust, generated in the server --------------------------------------

# Pupil n is at academy n % academies; every attribute is a hash of n, so that a run with the
# same arguments writes the same trust. `h(x)` is a non-negative 31-bit hash of a bigint.
PUPILS_SQL = """
CREATE TABLE public.bench_pupil AS
WITH base AS (
    SELECT u.n, u.upn, u.n %% %(academies)s AS home,
        abs(hashint8(u.n::bigint)) AS h1, abs(hashint8(u.n::bigint + 7777777)) AS h2
    FROM public.bench_upn AS u
)
SELECT b.*,
    b.home < %(primaries)s AS primary_phase,
    -- Ages on 31 Aug 2025: 4-10 in a primary, 11-17 in a secondary (sixth form included).
    CASE WHEN b.home < %(primaries)s THEN 4 ELSE 11 END + (b.h1 %% 7)::int AS age,
    b.h2 %% 100 < 25 AS fsm,
    b.n %% 100 = 7 AS mover,
    CASE WHEN b.home < %(primaries)s
        THEN (b.home + 1) %% %(primaries)s
        ELSE %(primaries)s + (b.home - %(primaries)s + 1) %% (%(academies)s - %(primaries)s)
    END AS moves_to
FROM base AS b
"""

SPANS_SQL = """
CREATE TABLE public.bench_span AS
SELECT p.n, p.upn, p.home AS academy, p.fsm, p.h1,
    make_date(2025 - (p.h1 / 7 %% 5)::int, 9, 1) AS admitted,
    CASE WHEN p.mover THEN date '2025-12-19' END AS left_on
FROM public.bench_pupil AS p
UNION ALL
SELECT p.n, p.upn, p.moves_to, p.fsm, p.h1, date '2026-01-05', NULL
FROM public.bench_pupil AS p
WHERE p.mover
"""

STRUCTURE_SQL = [
    "INSERT INTO meta.trust (trust_id, name) VALUES ('bench_trust', 'Bench Learning Trust')",
    """INSERT INTO meta.hubs (hub_id, trust_id, name)
       SELECT 'hub_' || h, 'bench_trust', 'Hub ' || h FROM generate_series(1, 4) AS h""",
    """INSERT INTO meta.academies (academy_id, trust_id, hub_id, urn, name, phase, adapter_kind)
       SELECT 'academy_' || lpad(a::text, 2, '0'), 'bench_trust', 'hub_' || (a %% 4 + 1),
           (990100 + a)::text, 'Bench Academy ' || a,
           CASE WHEN a < %(primaries)s THEN 'primary' ELSE 'secondary' END, 'wonde'
       FROM generate_series(0, %(academies)s - 1) AS a""",
]

ROLL_SQL = [
    # A pupil record at each academy of a span; the flags as a vendor's MIS would send them.
    """INSERT INTO raw.pupils (academy_id, upn, mis_id, date_of_birth, gender, nc_year,
           fsm_eligible, fsm6, in_care, previously_in_care, service_child, sen_status, eal,
           admission_date, leaving_date, batch_id, published_at)
       SELECT 'academy_' || lpad(s.academy::text, 2, '0'), s.upn, 'M' || s.n,
           make_date(2025 - p.age - 1, 9, 1) + (p.h2 %% 365)::int,
           CASE WHEN p.h1 %% 2 = 0 THEN 'F' ELSE 'M' END, p.age - 4,
           p.fsm, p.fsm, p.h2 %% 1000 < 5, p.h2 %% 1000 BETWEEN 5 AND 10, p.h2 %% 100 = 99,
           CASE WHEN p.h1 %% 100 < 3 THEN 'E' WHEN p.h1 %% 100 < 15 THEN 'K' ELSE 'N' END,
           p.h2 %% 100 >= 80, s.admitted, s.left_on, %(batch)s, %(loaded)s
       FROM public.bench_span AS s JOIN public.bench_pupil AS p ON p.n = s.n""",
    """INSERT INTO raw.enrolments (academy_id, upn, start_date, end_date, registration, mis_id,
           batch_id, published_at)
       SELECT 'academy_' || lpad(academy::text, 2, '0'), upn, admitted, left_on, 'single',
           'E' || n, %(batch)s, %(loaded)s
       FROM public.bench_span""",
    # FSM periods for a quarter of pupils (a third of them ended in 2023), recorded at the
    # home academy only; CLA periods for 0.5%.
    """INSERT INTO raw.characteristic_periods (academy_id, upn, characteristic, start_date,
           end_date, mis_id, batch_id, published_at)
       SELECT 'academy_' || lpad(home::text, 2, '0'), upn, 'fsm',
           make_date(2019 + (h1 %% 6)::int, 9, 1),
           CASE WHEN h1 %% 3 = 0 THEN make_date(2023, 7, 20) END, 'F' || n, %(batch)s,
           %(loaded)s
       FROM public.bench_pupil WHERE fsm
       UNION ALL
       SELECT 'academy_' || lpad(home::text, 2, '0'), upn, 'cla', date '2024-05-01', NULL,
           'C' || n, %(batch)s, %(loaded)s
       FROM public.bench_pupil WHERE h2 %% 1000 < 5""",
]

# Marks of the spans whose academies are in %(part)s, on the open days, each published on the
# evening of its day as a daily load would be (the fact's look-back then re-does one day, as in
# steady running, rather than the whole year as after a backfill). A pupil's absence
# propensity (per 10,000 days) depends on a bucket of n and on FSM; whole days are absent
# together (both sessions share the day's draw), with a code drawn per day.
MARKS_SQL = """
INSERT INTO raw.attendance_marks (academy_id, upn, mark_date, session, code, source_code,
    batch_id, published_at)
SELECT 'academy_' || lpad(s.academy::text, 2, '0'), s.upn, d.day, x.session, c.code, c.code,
    %(batch)s, (d.day + time '18:00') AT TIME ZONE 'UTC'
FROM public.bench_span AS s
CROSS JOIN LATERAL (
    SELECT (CASE WHEN s.h1 / 100 %% 100 < 60 THEN 250 WHEN s.h1 / 100 %% 100 < 85 THEN 600
                 WHEN s.h1 / 100 %% 100 < 97 THEN 1300 ELSE 4500 END
            * CASE WHEN s.fsm THEN 17 ELSE 10 END / 10) AS propensity
) AS p
JOIN unnest(%(days)s::date[]) WITH ORDINALITY AS d (day, i)
    ON d.day >= s.admitted AND (s.left_on IS NULL OR d.day <= s.left_on)
CROSS JOIN (VALUES ('AM', 0), ('PM', 1)) AS x (session, k)
CROSS JOIN LATERAL (
    SELECT abs(hashint8(s.n::bigint * 1000 + d.i)) %% 10000 AS day_draw,
        abs(hashint8(s.n::bigint * 1000003 + d.i * 2 + x.k)) %% 1000 AS session_draw
) AS r
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN r.day_draw < p.propensity THEN
            CASE WHEN r.day_draw %% 100 < 55 THEN 'I' WHEN r.day_draw %% 100 < 65 THEN 'M'
                 WHEN r.day_draw %% 100 < 72 THEN 'C' WHEN r.day_draw %% 100 < 80 THEN 'N'
                 WHEN r.day_draw %% 100 < 90 THEN 'O' ELSE 'G' END
        WHEN r.session_draw < 8 THEN 'L'
        WHEN r.session_draw < 10 THEN 'U'
        WHEN r.session_draw < 13 THEN 'V'
        WHEN r.session_draw < 15 THEN 'B'
        WHEN r.session_draw < 16 THEN 'D'
        WHEN x.k = 0 THEN '/'
        ELSE E'\\\\'
    END AS code
) AS c
WHERE s.academy = ANY(%(part)s)
"""


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(psycopg_conninfo(url), autocommit=True)


def generate(url: str, pupils: int, academies: int, days: list[date]) -> int:
    """Write the synthetic trust into the raw and meta tables; return the marks written."""
    primaries = round(academies * PRIMARY_SHARE)
    params: dict[str, Any] = {
        "academies": academies,
        "primaries": primaries,
        "batch": BATCH,
        "loaded": LOADED,
    }
    upns = [(n, make_upn(990, 2000 + n // 1000, 18, n % 1000)) for n in range(pupils)]
    with _connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        for statement in STRUCTURE_SQL:
            conn.execute(statement, params)
        conn.execute("CREATE TABLE public.bench_upn (n int PRIMARY KEY, upn text NOT NULL)")
        with conn.cursor().copy("COPY public.bench_upn (n, upn) FROM STDIN") as copy:
            for row in upns:
                copy.write_row(row)
        conn.execute(PUPILS_SQL, params)
        conn.execute(SPANS_SQL, params)
        for statement in ROLL_SQL:
            conn.execute(statement, params)
        # Each academy's year of marks is a partition of raw.attendance_marks, made here as the
        # pipeline's publish would (trustdata.warehouse.partitions).
        for year in sorted({year_of(day) for day in days}):
            for academy in range(academies):
                conn.execute(empty_leaf_sql(f"academy_{academy:02d}", year))
        # Faster to load without the primary key and build it once after.
        conn.execute("ALTER TABLE raw.attendance_marks DROP CONSTRAINT attendance_marks_pkey")
    # Two connections, half the academies each: the insert is CPU-bound and PostgreSQL 15
    # does not parallelise INSERT ... SELECT.
    parts = [list(range(academies))[i::2] for i in range(2)]
    workers = [
        threading.Thread(target=_insert_marks, args=(url, params | {"part": part, "days": days}))
        for part in parts
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with _connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            "ALTER TABLE raw.attendance_marks ADD CONSTRAINT attendance_marks_pkey"
            " PRIMARY KEY (academy_id, upn, mark_date, session)"
        )
        for table in ("bench_upn", "bench_pupil", "bench_span"):
            conn.execute(sql.SQL("DROP TABLE public.{}").format(sql.Identifier(table)))
        # As autovacuum would soon after a load: statistics and the visibility map.
        conn.execute("VACUUM (ANALYZE) raw.attendance_marks, raw.pupils, raw.enrolments")
        conn.execute("VACUUM (ANALYZE) raw.characteristic_periods")
        return marks_count(conn)


def _insert_marks(url: str, params: dict[str, Any]) -> None:
    with _connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(MARKS_SQL, params)


def marks_count(conn: psycopg.Connection[Any]) -> int:
    """Marks in raw.attendance_marks."""
    row = conn.execute("SELECT count(*) FROM raw.attendance_marks").fetchone()
    return int(row[0]) if row else 0


# --- one more day, as the pipeline would publish it -------------------------------------

NEW_DAY_SQL = """
INSERT INTO raw.attendance_marks (academy_id, upn, mark_date, session, code, source_code,
    batch_id, published_at)
SELECT p.academy_id, p.upn, %(day)s, x.session,
    CASE WHEN abs(hashint8(hashtext(p.upn)::bigint)) %% 100 < 5 THEN 'I'
         WHEN x.session = 'AM' THEN '/' ELSE E'\\\\' END,
    CASE WHEN abs(hashint8(hashtext(p.upn)::bigint)) %% 100 < 5 THEN 'I'
         WHEN x.session = 'AM' THEN '/' ELSE E'\\\\' END,
    %(batch)s, now()
FROM raw.pupils AS p
CROSS JOIN (VALUES ('AM'), ('PM')) AS x (session)
WHERE p.academy_id = %(academy)s AND p.leaving_date IS NULL
"""

# Corrections: some of the academy's N marks of the last days become I; the replaced
# versions go to raw.attendance_marks_superseded first, as publish keeps them.
CORRECTED_SQL = """
CREATE TEMP TABLE bench_corrected AS
SELECT * FROM raw.attendance_marks
WHERE academy_id = %(academy)s AND mark_date >= %(since)s AND code = 'N'
ORDER BY mark_date, upn, session
LIMIT %(corrections)s
"""

SUPERSEDE_SQL = [
    """INSERT INTO raw.attendance_marks_superseded (academy_id, upn, mark_date, session, code,
           source_code, mis_mark_id, source_updated_at, batch_id, published_at,
           superseded_by_batch_id, superseded_at)
       SELECT academy_id, upn, mark_date, session, code, source_code, mis_mark_id,
           source_updated_at, batch_id, published_at, %(batch)s, now()
       FROM bench_corrected""",
    """UPDATE raw.attendance_marks AS m
       SET code = 'I', source_code = 'I', batch_id = %(batch)s, published_at = now()
       FROM bench_corrected AS c
       WHERE m.academy_id = c.academy_id AND m.upn = c.upn AND m.mark_date = c.mark_date
           AND m.session = c.session""",
]


def add_day(url: str, academy: str, day: date) -> tuple[int, int]:
    """Publish ``day``'s marks for ``academy`` and some corrections; return both counts."""
    params = {
        "academy": academy,
        "day": day,
        "since": day - timedelta(days=7),
        "corrections": CORRECTIONS,
        "batch": uuid.uuid4(),
    }
    with _connect(url) as conn, conn.transaction():
        # A --day in a year the trust was not generated for needs its partition.
        leaf = f"raw.{leaf_name(academy, year_of(day))}"
        if conn.execute("SELECT to_regclass(%s)", (leaf,)).fetchone() == (None,):
            conn.execute(empty_leaf_sql(academy, year_of(day)))
        added = conn.execute(NEW_DAY_SQL, params).rowcount
        conn.execute(CORRECTED_SQL, params)
        corrected = 0
        for statement in SUPERSEDE_SQL:
            corrected = conn.execute(statement, params).rowcount
    return added, corrected


# --- measuring ---------------------------------------------------------------------------


class PeakMemory:
    """Samples the resident memory of this process and of the PostgreSQL server every 0.2 s."""

    def __init__(self) -> None:
        self.this_process = 0
        self.server_total = 0
        self.server_largest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.this_process = max(self.this_process, me.memory_info().rss)
            sizes = []
            for process in psutil.process_iter(["name", "memory_info"]):
                info = process.info
                if info["name"] == "postgres" and info["memory_info"] is not None:
                    sizes.append(info["memory_info"].rss)
            if sizes:
                self.server_total = max(self.server_total, sum(sizes))
                self.server_largest = max(self.server_largest, max(sizes))
            self._stop.wait(0.2)

    @contextmanager
    def sampling(self) -> Iterator[PeakMemory]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def timed_build(
    url: str, command: list[str], work: Path, label: str, project: Path = PROJECT_DIR
) -> float:
    """Run dbt, print its wall time, memory and slowest nodes; return the wall time."""
    with PeakMemory().sampling() as memory:
        started = time.perf_counter()
        # --quiet: dbt's per-node lines would bury the figures; run_results has them.
        run_dbt([*command, "--quiet"], url=url, data_dir=work, project_dir=project)
        seconds = time.perf_counter() - started
    mib = 1024 * 1024
    print(f"{label}: dbt {' '.join(command)}: {seconds:,.1f} s")
    print(
        f"  peak RSS: this process (dbt) {memory.this_process / mib:,.0f} MiB; PostgreSQL "
        f"{memory.server_total / mib:,.0f} MiB summed, largest process "
        f"{memory.server_largest / mib:,.0f} MiB"
    )
    results = json.loads((work / "target" / "run_results.json").read_text(encoding="utf-8"))
    nodes = [
        (r["unique_id"].split(".")[0], r["unique_id"].split(".")[2], r["execution_time"])
        for r in results["results"]
    ]
    for kind in ("model", "test", "seed"):
        of_kind = sorted((n for n in nodes if n[0] == kind), key=lambda n: -n[2])
        if not of_kind:
            continue
        total = sum(n[2] for n in of_kind)
        print(f"  {kind}s: {len(of_kind)}, {total:,.1f} s summed; slowest:")
        for _, name, took in of_kind[: 8 if kind == "model" else 5]:
            print(f"    {took:8.1f} s  {name}")
    return seconds


def drop_dbt_schemas(url: str) -> None:
    """Drop everything dbt built, so that the next build is a full one."""
    with _connect(url) as conn:
        for schema in DBT_SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def has_trust(url: str) -> bool:
    """Whether the database already holds a synthetic trust (for --reuse)."""
    try:
        with _connect(url) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT FROM meta.trust WHERE trust_id = 'bench_trust')"
            ).fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


def bench_url(url: str | None) -> str:
    """The benchmark's warehouse URL: ``url``, else its database on the embedded server."""
    if url is not None:
        return url
    from trustdata.config.settings import Settings
    from trustdata.warehouse.embedded import socket_url, start_embedded

    data_dir = Settings().data_dir
    _keep.append(start_embedded(data_dir))
    return socket_url(data_dir, BENCH_DATABASE)


_keep: list[Any] = []  # the embedded server's handle: it lives as long as this process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=70_000)
    parser.add_argument("--academies", type=int, default=20)
    parser.add_argument("--url", default=os.environ.get("TRUSTDATA_WAREHOUSE_URL"))
    parser.add_argument("--reuse", action="store_true", help="keep a trust already generated")
    parser.add_argument("--models-only", action="store_true", help="dbt run: no tests")
    parser.add_argument("--skip-full", action="store_true", help="only the one-day build")
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        help="the day to add (default: the year's last open day, held back when generating)",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="keep dbt's target/ and logs/ here (default: a temp dir)"
    )
    parser.add_argument(
        "--project-dir", type=Path, default=PROJECT_DIR, help="another checkout's transforms/"
    )
    args = parser.parse_args()
    url = bench_url(args.url)
    if "bench" not in (make_url(url).database or ""):
        raise SystemExit("the benchmark's database name must contain 'bench'")
    days = open_days(YEAR_START)
    held_back = days.pop()
    if args.reuse and has_trust(url):
        with _connect(url) as conn:
            marks = marks_count(conn)
        print(f"reusing the synthetic trust: {marks:,} marks")
    else:
        fresh_database(url)
        upgrade(url)
        started = time.perf_counter()
        marks = generate(url, args.pupils, args.academies, days)
        print(
            f"generated {args.pupils:,} pupils at {args.academies} academies, {marks:,} marks "
            f"on {len(days)} open days, in {time.perf_counter() - started:,.0f} s"
        )
    command = ["run"] if args.models_only else ["build"]
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as folder:
        work = args.work_dir or Path(folder)
        if not args.skip_full:
            drop_dbt_schemas(url)
            if args.models_only:
                # `run` does not seed
                run_dbt(["seed", "--quiet"], url=url, data_dir=work, project_dir=args.project_dir)
            timed_build(url, command, work, f"full build of {marks:,} marks", args.project_dir)
        added, corrected = add_day(url, "academy_00", args.day or held_back)
        timed_build(
            url,
            command,
            work,
            f"one day: {added:,} new marks at one academy and {corrected} corrected",
            args.project_dir,
        )


if __name__ == "__main__":
    main()
