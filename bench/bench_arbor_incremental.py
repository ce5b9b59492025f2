"""Benchmark: an incremental Arbor attendance read of one school day, in requests and seconds.

    .venv/bin/python bench/bench_arbor_incremental.py [--scale 1.0] [--school A1000000002]

The cursor is the revision just before the school's last day of registers, so the read is that
day's marks: the changelog pages, then the changed records, read by id in chunks
(``filters.id.in``). Prints the requests by resource and the wall time over loopback HTTP.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime

import httpx

from sandbox_mis.arbor_testing import serving_arbor
from sandbox_mis.dataset import DEMO_TOKEN, generate
from trustdata.adapters.arbor import ArborAdapter, ArborOptions
from trustdata.adapters.base import Stream, Window


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--school", default="A1000000002")
    args = parser.parse_args()
    with serving_arbor(generate(scale=args.scale)) as sandbox, httpx.Client() as client:
        school = sandbox.school(args.school)
        last = datetime.combine(max(school.days), datetime.min.time())
        host = sandbox.host(args.school)
        start = str(school.current_revision - 6000)  # a secondary's day is about 2,200 marks
        changes = [
            change
            for number in range(1, 8)
            for change in client.get(
                f"{host}/rest-v2/attendance-records/changelog",
                params={"from-revision": start, "page-size": "1000", "page-number": str(number)},
                auth=(args.school, DEMO_TOKEN),
            ).json()["changes"]
        ]
        records = {r["id"]: r for r in school.records(school.slot_window(last, None), 0, 10**6)}
        before = min(c["toRevision"] for c in changes if c["changedObject"]["id"] in records) - 1
        seen: Counter[str] = Counter()
        client.event_hooks["request"].append(lambda request: seen.update([_route(request)]))
        options = ArborOptions(
            base_url=host, username=args.school, page_size=1000, max_requests_per_second=100
        )
        adapter = ArborAdapter(options=options, secret=DEMO_TOKEN, client=client)
        started = time.perf_counter()
        marks = sum(
            len(page.records)
            for page in adapter.fetch(Stream.ATTENDANCE, Window(cursor=str(before)))
        )
        took = time.perf_counter() - started
    print(f"{marks} marks of one day ({len(records)} records) in {took:.2f} s")
    print(f"{sum(seen.values())} requests: {dict(seen)}")


def _route(request: httpx.Request) -> str:
    """The request's path under ``/rest-v2/``, with an object id written ``{id}``."""
    parts = request.url.path.split("/rest-v2/", 1)[-1].split("/")
    return "/".join("{id}" if part.isdigit() else part for part in parts)


if __name__ == "__main__":
    main()
