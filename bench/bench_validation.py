"""Benchmark: validate a 1-million-mark batch with its Great Expectations suite.

    .venv/bin/python bench/bench_validation.py [--pupils 2000] [--days 250]

A child process lands the batch first: a published roll of ``--pupils`` pupils and a backfill
batch of two marks per pupil per weekday (2,000 x 250 x 2 = 1,000,000), 0.1% of them for a
pupil not on the roll. This process then imports GX and audits the batch: the attendance suite
runs in PostgreSQL, the failing marks are quarantined and the results stored. It prints the
audit's time, GX's import time, and this process's peak RSS (targets on 2 cores: under 10 s
and under 500 MB). Uses TRUSTDATA_WAREHOUSE_URL if set, else the database
``trustdata_bench`` of the embedded PostgreSQL under .data/.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import httpx

# Before trustdata reads its settings: keep benchmark data out of the demo's warehouse.
os.environ.setdefault("TRUSTDATA_WAREHOUSE_DATABASE", "trustdata_bench")

from sqlalchemy import text

from trustdata.adapters.base import Adapter, AdapterOptions, Page, Stream, Window
from trustdata.config.trust import Academy
from trustdata.domain.records import AttendanceMarkRecord, PupilRecord
from trustdata.domain.upn import make_upn
from trustdata.pipeline.land import land
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.migrate import upgrade

ACADEMY = "bench_validation"
YEAR = (date(2025, 9, 1), date(2026, 8, 31))
STAMP = datetime(2026, 9, 1, 8, tzinfo=UTC)
PAGE = 20_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def academy() -> Academy:
    return Academy.model_validate(
        {
            "id": ACADEMY,
            "urn": "990999",
            "name": "Validation Bench",
            "phase": "secondary",
            "hub": "bench",
            "adapter": {"kind": "generated", "credential": {"env": "UNUSED"}},
        }
    )


class Generated(Adapter[AdapterOptions]):
    """Serves a made-up roll, or its register, in pages (no MIS involved)."""

    kind: ClassVar[str] = "generated"
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.PUPILS, Stream.ATTENDANCE})
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(self, pupils: int, days: int) -> None:
        with httpx.Client() as client:
            super().__init__(options=AdapterOptions(), secret="", client=client)
        self.pupils, self.days = pupils, days

    def school_days(self) -> list[date]:
        found, day = [], YEAR[0]
        while len(found) < self.days and day <= YEAR[1]:
            if day.weekday() < 5:
                found.append(day)
            day += timedelta(days=1)
        return found

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        if stream is Stream.PUPILS:
            roll = [
                PupilRecord(
                    f"P{n}", make_upn(990, 4000 + n // 1000, 20, n % 1000), *([None] * 12), STAMP
                )._replace(
                    date_of_birth=date(2009, 9, 1) + timedelta(days=n % 1400),
                    admission_date=date(2024, 9, 2),
                )
                for n in range(self.pupils)
            ]
            yield Page(roll, STAMP)
            return
        page: list[AttendanceMarkRecord] = []
        serial = 0
        for day in self.school_days():
            for n in range(self.pupils):
                pupil = f"P{n}" if serial % 1000 else "NOT_ON_ROLL"
                for session, code in (("AM", "/"), ("PM", "\\")):
                    page.append(AttendanceMarkRecord(None, pupil, day, session, code, STAMP))
                serial += 1
                if len(page) >= PAGE:
                    yield Page(page, STAMP)
                    page = []
        if page:
            yield Page(page, STAMP)

    def check_connection(self) -> None:
        return None


def setup(pupils: int, days: int) -> None:
    """Publish the roll and land the register as a backfill batch; print its id."""
    from trustdata.pipeline.audit import audit
    from trustdata.pipeline.publish import publish

    url = warehouse_url()
    upgrade(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        for table in ("raw.attendance_marks", "raw.pupils", "meta.quarantine"):
            conn.execute(text(f"DELETE FROM {table} WHERE academy_id = :a"), {"a": ACADEMY})
        for table in ("staging.attendance_landing", "staging.pupils_landing"):
            conn.execute(text(f"DELETE FROM {table} WHERE academy_id = :a"), {"a": ACADEMY})
    adapter = Generated(pupils, days)
    roll = land(
        engine=engine, adapter=adapter, academy_id=ACADEMY, stream=Stream.PUPILS, window=Window()
    )
    audit(engine=engine, batch_id=roll.batch_id, academy=academy())
    publish(engine=engine, batch_id=roll.batch_id, max_removal_share=1.0)
    marks = land(
        engine=engine,
        adapter=adapter,
        academy_id=ACADEMY,
        stream=Stream.ATTENDANCE,
        window=Window(dates=YEAR),
    )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE staging.attendance_landing"))
    print(f"{marks.batch_id} {marks.rows}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(args.pupils, args.days)
        return
    started = time.perf_counter()
    landed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--setup",
            "--pupils",
            str(args.pupils),
            "--days",
            str(args.days),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    batch_id, rows = landed[-2], int(landed[-1])
    print(
        f"landed {rows:,} marks for {args.pupils:,} pupils in {time.perf_counter() - started:.1f} s"
    )

    import uuid

    started = time.perf_counter()
    import great_expectations  # noqa: F401

    imported = time.perf_counter() - started
    from trustdata.pipeline.audit import audit

    engine = get_engine(warehouse_url())
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    result = audit(engine=engine, batch_id=uuid.UUID(batch_id), academy=academy())
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        checks = conn.execute(
            text(
                "SELECT check_name, success, unexpected_count FROM meta.validation_checks "
                "WHERE batch_id = :b ORDER BY check_name"
            ),
            {"b": batch_id},
        ).all()
    for name, success, unexpected in checks:
        print(
            f"  {name:<24} {'ok' if success else 'FAILED'} {unexpected if unexpected is not None else ''}"
        )
    print(
        f"validated {rows:,} marks with {len(checks)} checks: {seconds:.2f} s "
        f"({rows / seconds:,.0f} marks/s), {result.quarantined:,} quarantined, status {result.status}"
    )
    print(
        f"import great_expectations: {imported:.1f} s (once per process, not in the figure above)"
    )
    print(
        f"peak RSS of this process: {peak_rss_mb():.0f} MB (after the GX import: {rss_before:.0f} MB)"
    )


if __name__ == "__main__":
    main()
