"""The Arbor adapter against a misbehaving Arbor-style sandbox: it retries what is transient,
reads the same records as from a well-behaved one, and fails clearly when retries run out.

Each scenario serves the same dataset with faults injected (``sandbox_mis.faults``) and compares
every stream, full and incremental, with a fault-free read. Sleeps are kept tiny: Retry-After 0
and a millisecond backoff.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from sandbox_mis.arbor_testing import running_arbor
from sandbox_mis.dataset import Dataset, generate
from sandbox_mis.faults import Faults, parse_faults
from tests.helpers import one_academy_config
from trustdata import orchestration
from trustdata.adapters import http
from trustdata.adapters.arbor import ArborAdapter, ArborOptions
from trustdata.adapters.base import AdapterError, Stream, Window
from trustdata.warehouse.tables import batches, watermarks

SCHOOL = "A1000000001"
TOKEN = "sandbox-demo-token"
#: Small pages so a fault lands mid-stream; a high rate so the limiter costs no time.
FAST: dict[str, Any] = {"page_size": 200, "max_requests_per_second": 100, "max_retries": 5}


@pytest.fixture(autouse=True)
def tiny_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.001)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.02)


def read_everything(root: str, **options: Any) -> dict[str, Any]:
    """Every stream in full, then attendance from a cursor a week before the end."""
    with httpx.Client() as client:
        source = ArborAdapter(
            options=ArborOptions(
                base_url=f"{root}/{SCHOOL}", username=SCHOOL, **{**FAST, **options}
            ),
            secret=TOKEN,
            client=client,
        )
        read: dict[str, Any] = {}
        for stream in sorted(ArborAdapter.streams):
            pages = list(source.fetch(stream, Window()))
            read[stream] = sorted(r for p in pages for r in p.records)
            read[f"{stream} cursor"] = pages[-1].cursor if pages else None
        week = str(int(read["attendance cursor"]) - 150)
        pages = list(source.fetch(Stream.ATTENDANCE, Window(cursor=week)))
        read["incremental attendance"] = sorted(r for p in pages for r in p.records)
    return read


@pytest.fixture(scope="module")
def fault_free(dataset: Dataset) -> dict[str, Any]:
    with running_arbor(dataset) as root:
        read = read_everything(root)
    assert len(read["attendance"]) > 3 * FAST["page_size"]  # several pages
    assert read["incremental attendance"]
    return read


# scenario: (faults, extra adapter options, {what the retries log: at least how often})
SCENARIOS: dict[str, tuple[Faults, dict[str, Any], dict[str, int]]] = {
    "429 storm shorter than the retries": (
        Faults(storm_start=3, storm_length=4),
        {},
        {"HTTP 429": 4},
    ),
    "5xx every 4th request": (
        Faults(error_every=4),
        {},
        {"HTTP 500": 1, "HTTP 502": 1, "HTTP 503": 1},
    ),
    "timeout mid-stream": (
        Faults(
            slow_pages=frozenset({2}),
            slow_seconds=1.0,
            resources=frozenset({"attendance-records"}),
        ),
        {"timeout_seconds": 0.3},
        {"ReadTimeout": 1},
    ),
    "truncated pages": (
        Faults(truncate_pages=frozenset({1}), resources=frozenset({"attendance-records"})),
        {},
        {"not valid JSON": 1},
    ),
    "all at once, from a CLI spec": (
        parse_faults("429:every=5;5xx:every=7;truncate:pages=2;slow:pages=3,seconds=0.01"),
        {},
        {"HTTP 429": 2, "HTTP 500": 1, "not valid JSON": 1},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_faults_do_not_change_what_is_read(
    scenario: str,
    dataset: Dataset,
    fault_free: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    faults, options, retried = SCENARIOS[scenario]
    with running_arbor(dataset, faults) as root, caplog.at_level(logging.WARNING, http.__name__):
        read = read_everything(root, **options)
    logged = [r.getMessage() for r in caplog.records if r.name == http.__name__]
    for problem, at_least in retried.items():
        assert sum(problem in line for line in logged) >= at_least, (problem, logged)
    assert read == fault_free


def test_a_repeated_page_duplicates_and_loses_nothing(
    dataset: Dataset, fault_free: dict[str, Any]
) -> None:
    faults = Faults(repeat_pages=frozenset({2}), resources=frozenset({"attendance-records"}))
    with running_arbor(dataset, faults) as root:
        read = read_everything(root)
    marks = read["attendance"]
    assert len(marks) == len(fault_free["attendance"]) + FAST["page_size"]
    assert sorted(set(marks)) == sorted(set(fault_free["attendance"]))


@pytest.mark.parametrize(
    ("faults", "options", "message"),
    [
        (
            Faults(storm_length=100),
            {},
            r"rest-v2/attendance-marks: HTTP 429 after 3 tries: .*max_requests_per_second",
        ),
        (Faults(error_every=1, error_statuses=(503,)), {}, r"HTTP 503: .*after 3 tries \(retry"),
        (
            Faults(slow_pages=frozenset({1}), slow_seconds=1.0, slow_always=True),
            {"timeout_seconds": 0.2},
            r"rest-v2/attendance-marks: ReadTimeout after 3 tries",
        ),
    ],
    ids=["429 storm", "5xx", "timeouts"],
)
def test_running_out_of_retries_fails_clearly(
    dataset: Dataset, faults: Faults, options: dict[str, Any], message: str
) -> None:
    with (
        running_arbor(dataset, faults) as root,
        pytest.raises(AdapterError, match=message) as caught,
    ):
        read_everything(root, max_retries=2, **options)
    assert TOKEN not in str(caught.value)


def test_a_failed_landing_keeps_the_cursor(
    tmp_path: Path, dataset: Dataset, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_ARBOR_TOKEN", TOKEN)

    def config(root: str) -> str:
        options = {"base_url": f"{root}/{SCHOOL}", "username": SCHOOL, **FAST, "max_retries": 1}
        path = one_academy_config(
            tmp_path,
            academy_id="arbor",
            urn="990801",
            kind="arbor",
            options=options,
            credential_env="TD_ARBOR_TOKEN",
        )
        return str(path)

    with running_arbor(dataset) as root:
        orchestration.prepare_warehouse(config_path=config(root))
        landed = orchestration.land_stream(
            academy_id="arbor", stream="attendance", config_path=config(root)
        )
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config(root))
        orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config(root))
    with (
        running_arbor(dataset, Faults(storm_length=100)) as root,
        pytest.raises(AdapterError, match="HTTP 429 after 2 tries"),
    ):
        orchestration.land_stream(academy_id="arbor", stream="attendance", config_path=config(root))
    with engine.connect() as conn:
        statuses = (
            conn.execute(select(batches.c.status).order_by(batches.c.started_at)).scalars().all()
        )
        cursor = conn.execute(select(watermarks.c.cursor)).scalar_one()
    assert statuses == ["published", "failed"]
    assert cursor == landed["cursor"]
