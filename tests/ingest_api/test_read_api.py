"""The read API over a real warehouse: the sandbox trust synced, dbt built, HTTP on loopback.

The expected figures are recomputed here from the raw marks with the national code table, an
independent path from the dbt models the API serves.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import delete, select, text

from sandbox_mis.dataset import generate
from sandbox_mis.testing import running_app, running_sandbox
from tests.conftest import write_trust_config
from tests.helpers import api_key, bearer
from trustdata import orchestration
from trustdata.domain.codes import Category, national_code_table
from trustdata.warehouse.engine import get_engine
from trustdata.warehouse.tables import academies, api_access_log, attendance_marks, pupils

YEAR = "2025-26"


@pytest.fixture(scope="module")
def api(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The API, serving marts built from the sandbox trust at a small scale."""
    engine = get_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(
            text("TRUNCATE raw.pupils, raw.attendance_marks, meta.watermarks, meta.batches")
        )
    folder = tmp_path_factory.mktemp("trust")
    with pytest.MonkeyPatch.context() as patch, running_sandbox(generate(scale=0.03)) as base:
        patch.setenv("TD_TEST_TOKEN", "sandbox-demo-token")
        config = str(write_trust_config(Path(folder), base))
        orchestration.prepare_warehouse(config_path=config)
        for academy in ("oakfield", "ashbrook", "elmstead", "yewtree"):
            for stream in ("pupils", "attendance"):
                landed = orchestration.land_stream(
                    academy_id=academy, stream=stream, config_path=config
                )
                orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
                orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config)
    orchestration.build_warehouse()
    from ingest_api.main import create_app
    from trustdata.config.settings import get_settings

    key = api_key(engine)
    # No request budget here: the property-based run below sends hundreds of requests.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTDATA_API_RATE_LIMIT_PER_MINUTE", "0")
        get_settings.cache_clear()
        app = create_app()
    get_settings.cache_clear()
    with (
        running_app(app) as root,
        httpx.Client(base_url=root, headers=bearer(key)) as client,
    ):
        yield client


SUPPRESSED_BELOW = 5  # the marts' default suppression_threshold


def expected_rates(
    warehouse_url: str,
) -> dict[tuple[str, str], dict[str, tuple[float, int]]]:
    """Attendance rate and pupil enrolments per (level, unit) and group, straight from raw."""
    table = national_code_table()
    engine = get_engine(warehouse_url)
    with engine.connect() as conn:
        hub_of = dict(conn.execute(select(academies.c.academy_id, academies.c.hub_id)).all())
        roll = {(r.academy_id, r.upn): r for r in conn.execute(select(pupils)).all()}
        marks = conn.execute(
            select(
                attendance_marks.c.academy_id,
                attendance_marks.c.upn,
                attendance_marks.c.mark_date,
                attendance_marks.c.code,
            )
        ).all()
    sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    enrolled: dict[tuple[str, str, str], set[tuple[str, str]]] = defaultdict(set)
    for academy_id, upn, day, code in marks:
        pupil = roll[(academy_id, upn)]
        if pupil.deleted_at is not None:
            continue
        age = (
            2025
            - pupil.date_of_birth.year
            - ((pupil.date_of_birth.month, pupil.date_of_birth.day) > (8, 31))
        )
        if not 5 <= age <= 15:
            continue
        found = table.lookup(code, day)
        assert found is not None
        if not found.counts_as_possible:
            continue
        group = (
            "disadvantaged"
            if (pupil.fsm6 or pupil.in_care or pupil.previously_in_care)
            else "other"
        )
        attended = found.category in (Category.PRESENT, Category.APPROVED_EDUCATIONAL_ACTIVITY)
        for unit in (("academy", academy_id), ("hub", hub_of[academy_id]), ("trust", "demo_trust")):
            sums[(*unit, group)][0] += 1
            sums[(*unit, group)][1] += int(attended)
            enrolled[(*unit, group)].add((academy_id, upn))
    result: dict[tuple[str, str], dict[str, tuple[float, int]]] = defaultdict(dict)
    for (level, unit, group), (possible, attended) in sums.items():
        result[(level, unit)][group] = (
            100 * attended / possible,
            len(enrolled[(level, unit, group)]),
        )
    return result


def test_gap_at_every_level_matches_raw(api: httpx.Client, warehouse_url: str) -> None:
    expected = expected_rates(warehouse_url)
    paths = {
        ("trust", "demo_trust"): "/api/v1/trust/attendance-gap",
        ("hub", "north"): "/api/v1/hubs/north/attendance-gap",
        ("hub", "south"): "/api/v1/hubs/south/attendance-gap",
        ("academy", "oakfield"): "/api/v1/academies/oakfield/attendance-gap",
        ("academy", "yewtree"): "/api/v1/academies/yewtree/attendance-gap",
    }
    suppressed = shown = 0
    for unit, path in paths.items():
        response = api.get(path, params={"academic_year": YEAR})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["level"], body["id"], body["academic_year"]) == (*unit, YEAR)
        # Too few pupils in either group to publish: every figure of both is withheld, so none
        # identifies a pupil (the other group's, with the unit's total, would give it away).
        small = any(expected[unit][g][1] < SUPPRESSED_BELOW for g in ("disadvantaged", "other"))
        for group in ("disadvantaged", "other"):
            rate, enrolments = expected[unit][group]
            served = body[group]
            if small:
                assert served == {
                    "suppressed": True,
                    "pupils": None,
                    "possible_sessions": None,
                    "attended_sessions": None,
                    "attendance_rate": None,
                }
                suppressed += 1
            else:
                assert served["suppressed"] is False and served["pupils"] == enrolments
                assert served["attendance_rate"] == round(rate, 2)
                shown += 1
        gap = expected[unit]["disadvantaged"][0] - expected[unit]["other"][0]
        assert body["gap_percentage_points"] == (None if small else round(gap, 2))
    assert suppressed and shown  # the sandbox at this scale has small groups and large ones


def test_latest_year_is_the_default(api: httpx.Client) -> None:
    body = api.get("/api/v1/academies/ashbrook/attendance-gap").json()
    assert body["academic_year"] == YEAR


def test_academies_list(api: httpx.Client) -> None:
    body = api.get("/api/v1/academies").json()
    assert body["count"] == 4
    assert {a["id"] for a in body["data"]} == {"oakfield", "ashbrook", "elmstead", "yewtree"}


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/api/v1/academies/nowhere/attendance-gap", {}, 404, "no academy with id 'nowhere'"),
        ("/api/v1/hubs/west/attendance-gap", {}, 404, "no hub with id 'west'"),
        (
            "/api/v1/academies/oakfield/attendance-gap",
            {"academic_year": "2019-20"},
            404,
            "years with data: 2025-26",
        ),
        (
            "/api/v1/academies/oakfield/attendance-gap",
            {"academic_year": "2025/26"},
            422,
            "academic_year",
        ),
        (
            "/api/v1/academies/oakfield/attendance-gap",
            {"academic_year": "2025-27"},
            422,
            "write it as 2025-26",
        ),
        ("/api/v1/academies/Oak%20field/attendance-gap", {}, 422, "academy_id"),
    ],
)
def test_bad_requests_are_problem_details(
    api: httpx.Client, path: str, params: dict[str, Any], status: int, needle: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and needle in body["detail"]


def test_freshness_per_feed(api: httpx.Client) -> None:
    body = api.get("/api/v1/freshness").json()
    feeds = {(f["academy_id"], f["stream"]) for f in body["data"]}
    assert body["count"] == 8 and ("oakfield", "attendance") in feeds
    assert all(f["healthy"] and f["latest_status"] == "published" for f in body["data"])
    assert all(f["last_published_at"] and f["last_rows_published"] > 0 for f in body["data"])
    one = api.get("/api/v1/academies/ashbrook/freshness").json()
    assert [f["stream"] for f in one["data"]] == ["attendance", "pupils"]
    missing = api.get("/api/v1/academies/nowhere/freshness")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_health_and_ready(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready"}


def test_openapi_documents_the_gap_endpoints(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    assert "/api/v1/trust/attendance-gap" in spec["paths"]


def test_pupil_records_page_through_an_academy_and_every_read_is_logged(
    api: httpx.Client, warehouse_url: str
) -> None:
    engine = get_engine(warehouse_url)
    headers = bearer(api_key(engine, "hub:north", "pupils"))
    with engine.begin() as conn:
        conn.execute(delete(api_access_log))
        roll = {
            upn
            for (upn,) in conn.execute(
                select(attendance_marks.c.upn)
                .where(attendance_marks.c.academy_id == "ashbrook")
                .distinct()
            )
        }
    seen: list[str] = []
    pages, cursor = 0, None
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        response = api.get("/api/v1/academies/ashbrook/pupils", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["academic_year"] == YEAR and body["count"] == len(body["data"]) <= 10
        seen += [record["upn"] for record in body["data"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
        assert cursor not in {record["upn"] for record in body["data"]}
    assert len(seen) == len(set(seen)) and set(seen) == roll and pages > 1
    record = body["data"][0]
    assert record["possible_sessions"] >= record["attended_sessions"] >= 0
    assert isinstance(record["disadvantaged"], bool) and record["sen_group"]

    # Aggregates only: refused, and the refusal logged too. Another hub's academy: refused.
    refused = api.get("/api/v1/academies/ashbrook/pupils")
    assert refused.status_code == 403 and "need 'pupils'" in refused.json()["detail"]
    elsewhere = api.get("/api/v1/academies/yewtree/pupils", headers=headers)
    assert elsewhere.status_code == 403
    with engine.connect() as conn:
        log = conn.execute(select(api_access_log).order_by(api_access_log.c.access_id)).all()
    assert [(r.status, r.records) for r in log[:pages]] == [(200, len(r)) for r in _pages(seen, 10)]
    assert all(r.path == "/api/v1/academies/ashbrook/pupils" for r in log[:pages])
    assert "cursor=" in log[1].query and log[0].at <= log[-1].at
    assert [(r.academy_id, r.status, r.records) for r in log[pages:]] == [
        ("ashbrook", 403, 0),
        ("yewtree", 403, 0),
    ]
    assert len({r.client_id for r in log}) == 2


def _pages(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"cursor": "not-a-cursor"}, 422, "cursor"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 1001}, 422, "limit"),
        ({"academic_year": "2019-20"}, 404, "years with data: 2025-26"),
    ],
)
def test_bad_pupil_requests_are_problem_details(
    api: httpx.Client, warehouse_url: str, params: dict[str, Any], status: int, needle: str
) -> None:
    headers = bearer(api_key(get_engine(warehouse_url), "trust", "pupils"))
    response = api.get("/api/v1/academies/oakfield/pupils", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_gap_as_csv_flattens_the_groups(api: httpx.Client) -> None:
    as_json = api.get("/api/v1/trust/attendance-gap", params={"academic_year": YEAR}).json()
    response = api.get(
        "/api/v1/trust/attendance-gap", params={"academic_year": YEAR, "format": "csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["disadvantaged_suppressed"] == "false" and row["level"] == "trust"
    assert (
        float(row["disadvantaged_attendance_rate"]) == as_json["disadvantaged"]["attendance_rate"]
    )
    assert float(row["gap_percentage_points"]) == as_json["gap_percentage_points"]


def test_pupil_pages_link_to_the_next_in_csv_too(api: httpx.Client, warehouse_url: str) -> None:
    headers = bearer(api_key(get_engine(warehouse_url), "trust", "pupils"))
    path = "/api/v1/academies/oakfield/pupils"
    first = api.get(path, params={"limit": 5, "format": "csv"}, headers=headers)
    assert first.headers["content-type"].startswith("text/csv")
    assert len(first.text.splitlines()) == 6 and first.text.startswith("upn,enrolment_start")
    link = first.headers["link"]
    assert link.endswith('>; rel="next"') and "cursor=" in link and "format=csv" in link
    second = api.get(link[1 : link.index(">")], headers=headers)
    assert second.status_code == 200 and second.text.splitlines()[1] not in first.text


def test_measures_agree_with_the_gap_and_raw(api: httpx.Client, warehouse_url: str) -> None:
    expected = expected_rates(warehouse_url)[("hub", "north")]
    params = {"period_type": "academic_year", "group_type": "disadvantage"}
    body = api.get("/api/v1/hubs/north/attendance", params=params).json()
    rows = {row["group_value"]: row for row in body["data"]}
    assert set(rows) == {"disadvantaged", "other"} and body["next_cursor"] is None
    gap = api.get("/api/v1/hubs/north/attendance-gap").json()
    for group in ("disadvantaged", "other"):
        row = rows[group]
        assert (row["level"], row["id"], row["academic_year"]) == ("hub", "north", YEAR)
        if row["suppressed"]:
            assert row["attendance_rate"] is None and row["enrolments"] is None
            continue
        rate, enrolments = expected[group]
        assert row["attendance_rate"] == pytest.approx(rate, abs=0.005)
        assert row["enrolments"] == enrolments
        assert row["attendance_rate"] == pytest.approx(gap[group]["attendance_rate"], abs=0.005)


def test_measures_page_through_every_row_once(api: httpx.Client) -> None:
    path = "/api/v1/academies/oakfield/attendance"
    whole = api.get(path, params={"limit": 5000}).json()
    assert whole["next_cursor"] is None and whole["count"] > 20
    keys = [
        (r["period_type"], r["period"], r["group_type"], r["group_value"]) for r in whole["data"]
    ]
    paged: list[tuple[str, str, str, str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        body = api.get(path, params=params).json()
        paged += [
            (r["period_type"], r["period"], r["group_type"], r["group_value"]) for r in body["data"]
        ]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == keys and len(set(keys)) == len(keys)
    terms = api.get(path, params={"period_type": "term", "group_type": "all"}).json()["data"]
    assert terms and all(r["period_type"] == "term" and r["group_type"] == "all" for r in terms)


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"cursor": "bm90IGEgY3Vyc29y"}, 422, "not a cursor this API gave"),
        ({"period_type": "fortnight"}, 422, "period_type"),
        ({"group_type": "shoe_size"}, 422, "group_type"),
        ({"limit": 0}, 422, "limit"),
        ({"academic_year": "2019-20"}, 404, "years with data: 2025-26"),
    ],
)
def test_bad_measure_requests_are_problem_details(
    api: httpx.Client, params: dict[str, Any], status: int, needle: str
) -> None:
    response = api.get("/api/v1/trust/attendance", params=params)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_a_hub_client_reads_its_hub_measures_only(api: httpx.Client, warehouse_url: str) -> None:
    headers = bearer(api_key(get_engine(warehouse_url), "hub:north"))
    assert api.get("/api/v1/hubs/north/attendance", headers=headers).status_code == 200
    assert api.get("/api/v1/academies/ashbrook/attendance", headers=headers).status_code == 200
    assert api.get("/api/v1/hubs/south/attendance", headers=headers).status_code == 403
    assert api.get("/api/v1/trust/attendance", headers=headers).status_code == 403


def test_run_history_per_academy_and_feed(api: httpx.Client) -> None:
    body = api.get("/api/v1/academies/oakfield/runs").json()
    assert {r["stream"] for r in body["data"]} == {"pupils", "attendance"}
    assert all(r["status"] == "published" and r["seconds"] >= 0 for r in body["data"])
    marks = next(r for r in body["data"] if r["stream"] == "attendance")
    assert marks["rows_landed"] == marks["rows_published"] > 0 and marks["watermark_after"]
    first = api.get("/api/v1/academies/oakfield/runs", params={"limit": 1}).json()
    older = api.get(
        "/api/v1/academies/oakfield/runs", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [first["data"][0]["batch_id"], older["data"][0]["batch_id"]] == [
        r["batch_id"] for r in body["data"][:2]
    ]
    only = api.get("/api/v1/academies/oakfield/runs", params={"stream": "pupils"}).json()
    assert [r["stream"] for r in only["data"]] == ["pupils"]
    bad = api.get("/api/v1/academies/oakfield/runs", params={"stream": "dinners"})
    assert bad.status_code == 422 and "stream" in bad.json()["detail"]


def _openapi() -> Any:
    """The API's OpenAPI document (building the app reads no database)."""
    from ingest_api.main import create_app

    return schemathesis.openapi.from_dict(create_app(relay=False).openapi())


schema = _openapi()


@pytest.fixture(scope="module")
def every_scope(api: httpx.Client, warehouse_url: str) -> dict[str, str]:
    return bearer(api_key(get_engine(warehouse_url), "trust", "pupils"))


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_the_schema_allows_gets_a_server_error(
    case: Any, api: httpx.Client, every_scope: dict[str, str]
) -> None:
    """Property-based: requests drawn from the OpenAPI schema, with a key of every scope; a
    JSON answer must match its documented schema."""
    response = case.call(
        base_url=str(api.base_url).rstrip("/"), headers=every_scope | dict(case.headers or {})
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if response.headers.get("content-type") == "application/json":
        case.validate_response(response, checks=[response_schema_conformance])
