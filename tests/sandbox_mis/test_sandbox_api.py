"""The sandbox MIS through a real server: paging, filters, auth, includes, leavers, deletions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox_mis.dataset import DEMO_TOKEN, Dataset, generate
from sandbox_mis.models import MARK_CODES, NO_MARK
from sandbox_mis.testing import running_sandbox

SCHOOL = "A1000000001"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.02)


@pytest.fixture(scope="module")
def client(dataset: Dataset) -> Iterator[httpx.Client]:
    with (
        running_sandbox(dataset) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
        ) as client,
    ):
        yield client


def fetch_all(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow ``next`` links verbatim until the last page."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    first = True
    while url is not None:
        response = client.get(url, params=params if first else None)
        response.raise_for_status()
        body = response.json()
        rows.extend(body["data"])
        pagination = body["meta"]["pagination"]
        assert pagination["more"] == (pagination["next"] is not None)
        url, first = pagination["next"], False
    return rows


def expected_marks(dataset: Dataset, school_id: str) -> dict[tuple[str, str, str], str]:
    """Return {(student id, date, session): code} straight from the dataset."""
    school = dataset.school(school_id)
    assert school is not None
    expected = {}
    for student in school.students:
        if student.deleted_at is not None:
            continue
        for slot, mark in enumerate(student.marks):
            if mark != NO_MARK:
                day = dataset.school_days[slot // 2].isoformat()
                expected[student.id, day, ("AM", "PM")[slot % 2]] = MARK_CODES[mark]
    return expected


def code_names(client: httpx.Client, school_id: str) -> dict[str, str]:
    return {c["id"]: c["code"] for c in fetch_all(client, f"/schools/{school_id}/attendance-codes")}


def test_paging_through_marks_serves_every_mark_once_in_order(
    client: httpx.Client, dataset: Dataset
) -> None:
    marks = fetch_all(client, f"/schools/{SCHOOL}/attendance/session", per_page=97)
    ids = [m["id"] for m in marks]
    assert len(ids) == len(set(ids))
    names = code_names(client, SCHOOL)
    served = {
        (m["student"], m["date"]["date"][:10], m["session"]): names[m["attendance_code"]]
        for m in marks
    }
    assert served == expected_marks(dataset, SCHOOL)
    keys = [(m["updated_at"]["date"], m["id"]) for m in marks]
    assert keys == sorted(keys)


def test_minutes_late_only_for_late_codes(client: httpx.Client) -> None:
    names = code_names(client, SCHOOL)
    for mark in fetch_all(client, f"/schools/{SCHOOL}/attendance/session", per_page=1000):
        late = names[mark["attendance_code"]] in ("L", "U")
        assert isinstance(mark["minutes_late"], int) == late


def test_per_page_is_clamped_to_1000(client: httpx.Client) -> None:
    body = client.get(f"/schools/{SCHOOL}/attendance/session", params={"per_page": 5000}).json()
    assert body["meta"]["pagination"]["per_page"] == 1000
    assert len(body["data"]) == 1000


def test_updated_after_is_strictly_after(client: httpx.Client, dataset: Dataset) -> None:
    cutoff = "2026-03-02 09:05:00"  # the moment the AM register of that day was last updated
    marks = fetch_all(
        client, f"/schools/{SCHOOL}/attendance/session", per_page=500, updated_after=cutoff
    )
    assert marks[0]["date"]["date"].startswith("2026-03-02") and marks[0]["session"] == "PM"
    assert all(m["updated_at"]["date"] > cutoff for m in marks)
    expected = {k for k in expected_marks(dataset, SCHOOL) if (k[1], k[2]) > ("2026-03-02", "AM")}
    assert {(m["student"], m["date"]["date"][:10], m["session"]) for m in marks} == expected


def test_date_filters_are_inclusive(client: httpx.Client, dataset: Dataset) -> None:
    marks = fetch_all(
        client,
        f"/schools/{SCHOOL}/attendance/session",
        start_date="2025-11-03",
        end_date="2025-11-07",
    )
    dates = {m["date"]["date"][:10] for m in marks}
    assert dates == {f"2025-11-0{d}" for d in range(3, 8)} - {"2025-11-03"}  # INSET day
    expected = [k for k in expected_marks(dataset, SCHOOL) if "2025-11-03" <= k[1] <= "2025-11-07"]
    assert len(marks) == len(expected)


def test_updated_after_on_students_returns_later_changes(client: httpx.Client) -> None:
    everyone = fetch_all(client, "/schools/A1000000002/students")
    first_update = min(s["updated_at"]["date"][:19] for s in everyone)
    later = fetch_all(client, "/schools/A1000000002/students", updated_after=first_update)
    assert 0 < len(later) < len(everyone)
    assert all(s["updated_at"]["date"][:19] > first_update for s in later)


def test_unknown_school_is_404_before_the_token_is_checked(client: httpx.Client) -> None:
    response = client.get("/schools/A9999999999/students", headers={"Authorization": "Bearer x"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {DEMO_TOKEN}"])
def test_wrong_or_missing_token_is_401(client: httpx.Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=client.base_url, headers=headers) as anonymous:
        response = anonymous.get(f"/schools/{SCHOOL}/students")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    response = client.get(f"/schools/{SCHOOL}/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("updated_after", "2025-10-04"),
        ("updated_after", "2025-10-04T01:02:03"),
        ("start_date", "4/10/2025"),
    ],
)
def test_malformed_filters_are_400_naming_the_parameter(
    client: httpx.Client, param: str, value: str
) -> None:
    response = client.get(f"/schools/{SCHOOL}/attendance/session", params={param: value})
    assert response.status_code == 400
    assert param in response.json()["error_description"]


def test_includes_are_present_only_when_asked_for(client: httpx.Client) -> None:
    plain = client.get(f"/schools/{SCHOOL}/students").json()["data"][0]
    assert "education_details" not in plain and "extended_details" not in plain
    full = client.get(
        f"/schools/{SCHOOL}/students", params={"include": "education_details,extended_details"}
    ).json()["data"][0]
    assert set(full["education_details"]["data"]) >= {"upn", "current_nc_year", "admission_date"}
    assert full["extended_details"]["data"]["free_school_meals_6"] in (True, False)


def test_flags_are_written_per_school_style(client: httpx.Client) -> None:
    styles: dict[str, tuple[object, object]] = {
        "A1000000001": (True, False),
        "A1000000002": ("Y", "N"),
        "A1000000003": ("T", "F"),
        "A1000000004": (1, 0),
    }
    for school_id, (yes, no) in styles.items():
        rows = fetch_all(client, f"/schools/{school_id}/students", include="extended_details")
        for row in rows:
            value = row["extended_details"]["data"]["in_lea_care"]
            assert type(value) is type(yes) and value in (yes, no)


def test_leavers_and_deleted_students(client: httpx.Client, dataset: Dataset) -> None:
    for school in dataset.schools:
        on_roll = {s["id"] for s in fetch_all(client, f"/schools/{school.id}/students")}
        leavers = fetch_all(
            client, f"/schools/{school.id}/students-leaver", include="education_details"
        )
        deleted = fetch_all(client, f"/schools/{school.id}/deletions", type="student")
        assert leavers and deleted
        assert all(row["education_details"]["data"]["leaving_date"] for row in leavers)
        deleted_ids = {row["id"] for row in deleted}
        assert not on_roll & {row["id"] for row in leavers}
        assert not deleted_ids & (on_roll | {row["id"] for row in leavers})
        assert all(row["type"] == "student" for row in deleted)
        assert deleted_ids == {s.id for s in school.students if s.deleted_at is not None}


def test_school_and_trailing_slash(client: httpx.Client) -> None:
    body = client.get("/schools/A1000000003/").json()
    assert body["data"]["urn"] == 990003 and body["data"]["la_code"] == "991"
    assert client.get(f"/schools/{SCHOOL}/attendance/session/").status_code == 200


def test_attendance_codes_cover_the_2024_national_codes(client: httpx.Client) -> None:
    codes = {row["code"] for row in fetch_all(client, f"/schools/{SCHOOL}/attendance-codes")}
    assert {"/", "\\", "L", "I", "M", "K", "C1", "J1", "Q", "Y1", "Y7", "U"} <= codes
    assert not codes & {"H", "J", "Y"}


def test_weekend_or_holiday_dates_have_no_marks(client: httpx.Client) -> None:
    marks = fetch_all(
        client,
        f"/schools/{SCHOOL}/attendance/session",
        start_date="2025-12-20",
        end_date=date(2026, 1, 5).isoformat(),
    )
    assert marks == []
