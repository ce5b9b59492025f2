"""Benchmark: land one academy trust's attendance from the sandbox MIS, printing throughput and memory.

    .venv/bin/python bench/bench_landing.py [--scale 1.0]

The sandbox MIS runs in its own process, so the peak RSS printed is that of the pipeline
process alone: extract (HTTP + JSON), code mapping and COPY into staging, then audit and
publish. Run it at two scales to see that landing memory does not grow with the extract.
Uses TRUSTDATA_WAREHOUSE_URL if set, else the database ``trustdata_bench`` of the embedded
PostgreSQL under .data/, never the demo's own warehouse database.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

# Before trustdata reads its settings: keep benchmark data out of the demo's warehouse.
os.environ.setdefault("TRUSTDATA_WAREHOUSE_DATABASE", "trustdata_bench")

from trustdata import orchestration

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import write_trust_config  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sandbox_mis", "--port", str(port), "--scale", str(args.scale)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1.0"
        for _ in range(100):
            try:
                httpx.get(f"{base}/schools/none")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        os.environ["TD_TEST_TOKEN"] = "sandbox-demo-token"
        with tempfile.TemporaryDirectory() as folder:
            config = str(write_trust_config(Path(folder), base))
            orchestration.prepare_warehouse(config_path=config)
            totals = {"land": 0.0, "audit": 0.0, "publish": 0.0}
            marks = 0
            for academy in ("oakfield", "ashbrook", "elmstead", "yewtree"):
                for stream in ("pupils", "attendance"):
                    started = time.perf_counter()
                    landed = orchestration.land_stream(
                        academy_id=academy, stream=stream, config_path=config, full=True
                    )
                    totals["land"] += time.perf_counter() - started
                    started = time.perf_counter()
                    orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
                    totals["audit"] += time.perf_counter() - started
                    started = time.perf_counter()
                    orchestration.publish_stream(batch_id=landed["batch_id"])
                    totals["publish"] += time.perf_counter() - started
                    if stream == "attendance":
                        marks += landed["rows_landed"]
    finally:
        sandbox.terminate()
    elapsed = sum(totals.values())
    print(f"scale {args.scale}: {marks:,} marks")
    for step, seconds in totals.items():
        print(f"  {step:8s} {seconds:7.1f} s")
    print(
        f"  end to end {marks / elapsed:,.0f} marks/s; landing alone {marks / totals['land']:,.0f} marks/s"
    )
    print(f"  peak RSS of the pipeline process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
