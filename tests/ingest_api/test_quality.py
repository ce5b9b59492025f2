"""Data quality per academy over real HTTP and a real warehouse, fed by the scripted fake MIS.

A batch with marks for a pupil the roll does not hold publishes the rest and reports the check
with its count and example MIS pupil ids (never UPNs); the rows wait for release until the roll
holds the pupil, and a release clears them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from sandbox_mis.testing import running_app
from tests.fakes import FakeWonde, mark, student
from tests.helpers import api_key, bearer, sync_stream
from trustdata.orchestration.quarantine import release_quarantined
from trustdata.warehouse.tables import pupils

ACADEMY = "fakeacademy"
DAY = date(2025, 9, 8)


@pytest.fixture
def api(config: str, engine: Engine) -> Iterator[httpx.Client]:
    from ingest_api.main import create_app

    with (
        running_app(create_app(Path(config), relay=False)) as root,
        httpx.Client(base_url=f"{root}/api/v1", headers=bearer(api_key(engine))) as client,
    ):
        yield client


def feeds(api: httpx.Client, path: str) -> dict[str, dict[str, Any]]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return {feed["stream"]: feed for feed in response.json()["data"]}


def test_quality_names_failing_checks_with_examples_and_what_waits(
    api: httpx.Client, config: str, engine: Engine
) -> None:
    fake = FakeWonde(
        students=[student(1)],
        marks=[mark(f"B{n}", DAY, s, "/") for n in (1, 2) for s in ("AM", "PM")],
    )
    assert feeds(api, f"/academies/{ACADEMY}/quality") == {}
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())

    quality = feeds(api, f"/academies/{ACADEMY}/quality")
    assert quality["pupils"]["outcome"] == "ok" and quality["pupils"]["failed_checks"] == []
    marks = quality["attendance"]
    assert (marks["outcome"], marks["rows_landed"], marks["rows_quarantined"]) == ("warn", 4, 2)
    (failure,) = marks["failed_checks"]
    assert failure["check"] == "pupil_known" and failure["severity"] == "warn"
    assert failure["rows"] == 2 and failure["example_mis_pupil_ids"] == ["B2"]
    assert marks["waiting_release"] == [{"check": "pupil_known", "rows": 2}]
    served = api.get(f"/academies/{ACADEMY}/quality").text
    with engine.connect() as conn:
        upns = list(conn.execute(select(pupils.c.upn)).scalars())
    assert upns and not any(upn in served for upn in upns)  # MIS ids only, never UPNs
    assert feeds(api, "/quality") == quality

    fake.students.append(student(2, updated="2025-09-10 08:00:00"))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    release_quarantined(academy_id=ACADEMY, stream="attendance", config_path=config)
    after = feeds(api, f"/academies/{ACADEMY}/quality")["attendance"]
    assert (after["outcome"], after["source"], after["waiting_release"]) == ("ok", "quarantine", [])


def test_quality_of_an_unknown_academy_is_a_404(api: httpx.Client) -> None:
    response = api.get("/academies/nowhere/quality")
    assert response.status_code == 404
    assert "no academy with id 'nowhere'" in response.json()["detail"]


def test_a_batch_level_check_is_reported_without_rows_to_release(
    api: httpx.Client, config: str
) -> None:
    fake = FakeWonde(
        students=[student(1), student(2)],
        marks=[mark("B1", DAY, s, "/") for s in ("AM", "PM")],  # B2's register not taken
    )
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    marks = feeds(api, f"/academies/{ACADEMY}/quality")["attendance"]
    assert (marks["outcome"], marks["rows_quarantined"], marks["status"]) == (
        "warn",
        0,
        "published",
    )
    (failure,) = marks["failed_checks"]
    assert (failure["check"], failure["severity"], failure["rows"]) == (
        "register_complete",
        "warn",
        1,
    )
    assert failure["example_mis_pupil_ids"] == [] and marks["waiting_release"] == []
