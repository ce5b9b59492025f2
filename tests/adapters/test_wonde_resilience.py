"""The Wonde adapter against a misbehaving MIS: the retry helper alone, then the real pipeline.

The pipeline tests run an academy's pupils and attendance through land, audit and publish
against the sandbox MIS with faults injected, and compare what is published with a fault-free
run of the same dataset. Sleeps are kept tiny: Retry-After 0 and a millisecond backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, func, select, text

from sandbox_mis.dataset import Dataset, generate
from sandbox_mis.faults import Faults, parse_faults
from sandbox_mis.testing import running_sandbox
from tests.conftest import write_trust_config
from tests.helpers import staged_marks
from trustdata import orchestration
from trustdata.adapters import http
from trustdata.adapters.base import AdapterError
from trustdata.adapters.http import RateLimiter, get_json, retry_after_seconds
from trustdata.adapters.wonde import WondeOptions
from trustdata.warehouse.engine import get_engine
from trustdata.warehouse.tables import (
    SCHEMAS,
    attendance_marks,
    batches,
    pupils,
    watermarks,
)

ACADEMY = "oakfield"
TOKEN = "sandbox-demo-token"
URL = "https://mis.test/v1.0/schools/A1/attendance/session"
# Small pages so a fault lands mid-stream; a high rate so the limiter costs no time.
FAST = {"per_page": 500, "max_requests_per_second": 100}


@pytest.fixture(autouse=True)
def tiny_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.001)
    monkeypatch.setenv("TD_TEST_TOKEN", TOKEN)


# --- get_json and the limiter alone --------------------------------------------------------


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def scripted(*responses: httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client whose transport answers with ``responses`` in turn."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def test_limiter_spaces_requests() -> None:
    clock = Clock()
    limiter = RateLimiter(4.0, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(3):
        limiter.wait()
    clock.now += 1.0  # idle time is not saved up as a burst
    limiter.wait()
    limiter.wait()
    assert clock.slept == [0.25, 0.25, 0.25]


def test_retries_429_5xx_and_truncated_bodies_with_the_limiter() -> None:
    clock = Clock()
    client, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.Response(200, content=b'{"data": [{"id": '),
        httpx.Response(200, json={"data": []}),
    )
    limiter = RateLimiter(10.0, clock=lambda: clock.now, sleep=clock.sleep)
    body = get_json(
        client,
        URL,
        headers={},
        backoff_seconds=1.0,
        timeout=httpx.Timeout(7.0),
        limiter=limiter,
        sleep=clock.sleep,
        jitter=lambda: 0.5,
    )
    assert body == {"data": []}
    # Retry-After 3 s, then full jitter (0.5 x 2 s, 0.5 x 4 s); the limiter never had to wait.
    assert clock.slept == [3.0, 1.0, 2.0]
    assert len(seen) == 4
    assert all(r.extensions["timeout"]["read"] == 7.0 for r in seen)


def test_retry_after_as_http_date_is_capped() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)

    def wait(value: str) -> float:
        return retry_after_seconds(httpx.Response(429, headers={"Retry-After": value}), 1.5)

    assert wait(later) == http.MAX_RETRY_AFTER_SECONDS
    assert 25 < wait(soon) <= 30
    assert wait(past) == 0.0
    assert wait("0") == 0.0
    assert wait("9999") == http.MAX_RETRY_AFTER_SECONDS
    assert wait("soon") == 1.5


def test_a_storm_longer_than_the_retries_says_to_slow_down() -> None:
    client, seen = scripted(*[httpx.Response(429, headers={"Retry-After": "0"})] * 3)
    with pytest.raises(AdapterError) as caught:
        get_json(
            client,
            URL,
            headers={"Authorization": f"Bearer {TOKEN}"},
            params={"updated_after": "2025-09-01 00:00:00"},
            max_retries=2,
            sleep=lambda _: None,
        )
    message = str(caught.value)
    assert len(seen) == 3
    assert "HTTP 429 after 3 tries" in message and "rate limiting" in message
    assert (
        "lower max_requests_per_second" in message and "/schools/A1/attendance/session" in message
    )
    assert TOKEN not in message and "2025" not in message


def test_truncated_every_time_is_an_error_after_the_retries() -> None:
    client, seen = scripted(*[httpx.Response(200, content=b'{"data": [')] * 2)
    with pytest.raises(AdapterError, match=r"not valid JSON \(truncated\?\) after 2 tries"):
        get_json(client, URL, headers={}, max_retries=1, sleep=lambda _: None)
    assert len(seen) == 2


def test_timeouts_are_retried_then_reported() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    with pytest.raises(AdapterError, match=r"ReadTimeout after 3 tries"):
        get_json(client, URL, headers={}, max_retries=2, sleep=lambda _: None)


@pytest.mark.parametrize("rate", [0, -1, 1001])
def test_request_rate_is_bounded(rate: float) -> None:
    with pytest.raises(ValidationError, match="max_requests_per_second"):
        WondeOptions(school_id="A1", max_requests_per_second=rate)


# --- the pipeline against the faulty sandbox ------------------------------------------------


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.03)


def write_config(folder: Path, base_url: str, **options: Any) -> str:
    """The sandbox trust config, with extra adapter options for every academy."""
    path = write_trust_config(folder, base_url)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    for academy in config["academies"]:
        academy["adapter"]["options"].update(FAST, **options)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return str(path)


def sync(config: str, stream: str) -> dict[str, Any]:
    landed = orchestration.land_stream(academy_id=ACADEMY, stream=stream, config_path=config)
    audited = orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
    published = orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config)
    return {**landed, **audited, **published}


def run(
    dataset: Dataset, folder: Path, faults: Faults | None, **options: Any
) -> dict[str, dict[str, Any]]:
    """Sync the academy's pupils, then its attendance, from a sandbox with ``faults``."""
    with running_sandbox(dataset, faults) as base_url:
        config = write_config(folder, base_url, **options)
        orchestration.prepare_warehouse(config_path=config)
        return {stream: sync(config, stream) for stream in ("pupils", "attendance")}


def published(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every published row, without the columns saying which batch wrote it and when."""
    tables = {}
    for table in (pupils, attendance_marks):
        columns = [c for c in table.columns if c.name not in {"batch_id", "published_at"}]
        with engine.connect() as conn:
            rows = conn.execute(select(*columns)).all()
        tables[table.name] = sorted(tuple(row) for row in rows)
    return tables


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture(scope="module")
def fault_free(
    warehouse_url: str, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """What a fault-free run publishes, and its summaries (the warehouse emptied around it)."""
    engine = get_engine(warehouse_url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TD_TEST_TOKEN", TOKEN)
        _empty(engine)
        summaries = run(dataset, tmp_path_factory.mktemp("fault_free"), None)
        rows = published(engine)
        _empty(engine)
    assert len(rows["attendance_marks"]) > 2000  # several pages of 500
    yield {"rows": rows, **summaries}


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        names = conn.execute(
            text(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname = ANY(:schemas) AND tablename <> 'alembic_version'"
            ),
            {"schemas": list(SCHEMAS)},
        ).scalars()
        conn.execute(text(f"TRUNCATE {', '.join(names)}"))


# scenario: (faults, extra adapter options, {what the retries log: at least how often})
SCENARIOS: dict[str, tuple[Faults, dict[str, Any], dict[str, int]]] = {
    "429 storm shorter than the retries": (
        Faults(storm_start=2, storm_length=4),
        {},
        {"HTTP 429": 4},
    ),
    "429 on every 4th request": (Faults(rate_limit_every=4), {}, {"HTTP 429": 3}),
    "5xx every 3rd request": (
        Faults(error_every=3),
        {},
        {"HTTP 500": 1, "HTTP 502": 1, "HTTP 503": 1},
    ),
    "timeout mid-stream": (
        Faults(
            slow_pages=frozenset({3}),
            slow_seconds=1.2,
            resources=frozenset({"attendance/session"}),
        ),
        {"timeout_seconds": 0.5},
        {"ReadTimeout": 1},
    ),
    # Page 1 of students, leavers, codes and marks, and page 3 of marks.
    "truncated pages": (Faults(truncate_pages=frozenset({1, 3})), {}, {"not valid JSON": 5}),
    "all at once, from a CLI spec": (
        parse_faults("429:every=5;5xx:every=7;truncate:pages=2;slow:pages=4,seconds=0.01"),
        {},
        {"HTTP 429": 2, "HTTP 500": 1, "not valid JSON": 1},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_faults_do_not_change_what_is_published(
    scenario: str,
    engine: Engine,
    dataset: Dataset,
    fault_free: dict[str, Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    faults, options, retried = SCENARIOS[scenario]
    with caplog.at_level(logging.WARNING, logger=http.__name__):
        summaries = run(dataset, tmp_path, faults, **options)
    logged = [r.getMessage() for r in caplog.records if r.name == http.__name__]
    for problem, at_least in retried.items():
        assert sum(problem in line for line in logged) >= at_least, (problem, logged)
    assert published(engine) == fault_free["rows"]
    for stream in ("pupils", "attendance"):
        assert summaries[stream]["rows_landed"] == fault_free[stream]["rows_landed"]
        assert summaries[stream]["watermark"] == fault_free[stream]["watermark"]


def test_repeated_pages_land_twice_and_publish_once(
    engine: Engine, dataset: Dataset, fault_free: dict[str, Any], tmp_path: Path
) -> None:
    faults = Faults(repeat_pages=frozenset({2, 5}), resources=frozenset({"attendance/session"}))
    summaries = run(dataset, tmp_path, faults)
    clean = fault_free["attendance"]
    assert summaries["attendance"]["rows_landed"] == clean["rows_landed"] + 2 * 500
    assert summaries["attendance"]["rows_published"] == clean["rows_published"]
    assert summaries["attendance"]["rows_quarantined"] == clean["rows_quarantined"]
    assert published(engine) == fault_free["rows"]


def test_a_storm_longer_than_the_retries_fails_cleanly(
    engine: Engine, dataset: Dataset, fault_free: dict[str, Any], tmp_path: Path
) -> None:
    before = run(dataset, tmp_path, None)["attendance"]["watermark"]
    storm = Faults(storm_length=100, retry_after=0)
    with running_sandbox(dataset, storm) as base_url:
        config = write_config(tmp_path, base_url, max_retries=2)
        with pytest.raises(AdapterError, match=r"rate limiting.*max_requests_per_second") as caught:
            orchestration.land_stream(academy_id=ACADEMY, stream="attendance", config_path=config)
    assert TOKEN not in str(caught.value)
    with engine.connect() as conn:
        latest = conn.execute(
            select(batches.c.status)
            .where(batches.c.stream == "attendance")
            .order_by(batches.c.started_at.desc())
            .limit(1)
        ).scalar_one()
        after = conn.execute(
            select(watermarks.c.watermark).where(watermarks.c.stream == "attendance")
        ).scalar_one()
    assert latest == "failed"
    assert staged_marks(engine) == 0
    assert after.isoformat() == before
    assert published(engine) == fault_free["rows"]
