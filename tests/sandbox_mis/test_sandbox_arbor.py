"""The Arbor-style sandbox MIS through a real server: auth, paging, UPNs, codes, changelog."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox_mis.arbor_testing import running_arbor, serving_arbor
from sandbox_mis.dataset import DEMO_TOKEN, Dataset, School, generate
from sandbox_mis.models import CODES_IN_FORCE_FROM, MARK_CODES, NO_MARK
from trustdata.domain.codes import Category, national_code_table
from trustdata.domain.upn import is_valid_upn

SCHOOL = "A1000000001"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.03)


@pytest.fixture(scope="module")
def root(dataset: Dataset) -> Iterator[str]:
    with running_arbor(dataset) as url:
        yield url


@pytest.fixture(scope="module")
def client(root: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{root}/{SCHOOL}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as c:
        yield c


@pytest.fixture(scope="module")
def school(dataset: Dataset) -> School:
    found = dataset.school(SCHOOL)
    assert found is not None
    return found


def fetch_all(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Page with page-number until an empty page, as an Arbor client must."""
    rows: list[dict[str, Any]] = []
    for number in range(1, 10_000):
        response = client.get(path, params={**params, "page-number": number})
        response.raise_for_status()
        page = response.json()[key]
        if not page:
            return rows
        rows.extend(page)
    raise AssertionError("paging never reached an empty page")


def arbor_id(school: School, student_id: str) -> int:
    """Return a student's Arbor id: its position in the school's records, from 1."""
    return next(n for n, s in enumerate(school.students, 1) if s.id == student_id)


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()["response"]
    assert body["code"] == status
    assert body["reason"]
    assert body["errors"][0]["message"]


def test_auth_needs_the_school_id_and_its_token(root: str) -> None:
    url = f"{root}/{SCHOOL}/rest-v2/students"
    missing = httpx.get(url)
    assert_error(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Basic")
    assert_error(httpx.get(url, auth=(SCHOOL, "wrong")), 401)
    assert_error(httpx.get(url, auth=("A1000000002", DEMO_TOKEN)), 401)
    assert_error(httpx.get(url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}), 401)
    assert_error(httpx.get(url, headers={"Authorization": "Basic not-base64!"}), 401)
    assert httpx.get(url, auth=(SCHOOL, DEMO_TOKEN)).status_code == 200


def test_unknown_things_are_404s_in_the_error_shape(root: str, client: httpx.Client) -> None:
    assert_error(httpx.get(f"{root}/A9999999999/rest-v2/students"), 404)
    assert_error(client.get("widgets"), 404)
    assert_error(client.get("students/999999"), 404)
    assert_error(client.get("students/abc"), 404)
    assert_error(client.get("attendance-records/1"), 404)
    assert_error(client.get("attendance-marks/changelog"), 404)
    assert_error(httpx.get(f"{root}/nowhere"), 404)


def test_bad_parameters_are_400s(client: httpx.Client) -> None:
    assert_error(client.get("students", params={"page-number": 0}), 400)
    assert_error(client.get("students", params={"page-size": "x"}), 400)
    assert_error(client.get("attendance-records/changelog", params={"from-revision": -1}), 400)
    params = {"filters.startDatetime.from": "08/09/2025"}
    assert_error(client.get("attendance-records", params=params), 400)


def test_students_page_to_an_empty_page(client: httpx.Client, school: School) -> None:
    rows = fetch_all(client, "students", "students", **{"page-size": 3})
    live = [s for s in school.students if s.deleted_at is None]
    assert [r["id"] for r in rows] == sorted(arbor_id(school, s.id) for s in live)
    first = rows[0]
    assert first["entityType"] == "Student"
    assert first["href"] == f"/rest-v2/students/{first['id']}"
    assert client.get(first["href"].removeprefix("/rest-v2/")).json() == {"student": first}
    person = client.get(first["person"]["href"].removeprefix("/rest-v2/")).json()["person"]
    assert person["gender"] in {"MALE", "FEMALE"}
    assert date.fromisoformat(person["dateOfBirth"])
    assert {r["yearGroup"] for r in rows} <= {"Reception"} | {f"Year {n}" for n in range(1, 7)}
    leavers = [r for r in rows if r["endDate"] is not None]
    assert len(leavers) == sum(s.leaving_date is not None for s in live)


def test_page_size_is_capped_at_1000(client: httpx.Client) -> None:
    page = client.get("attendance-records", params={"page-size": 5000}).json()
    assert len(page["attendanceRecords"]) == 1000


def test_upn_assignments_give_every_student_a_valid_upn(
    client: httpx.Client, school: School
) -> None:
    students = fetch_all(client, "students", "students")
    assignments = fetch_all(client, "ukdfe-upn-assignments", "ukdfeUpnAssignments")
    upns = {a["student"]["id"]: a["upn"] for a in assignments}
    assert len(upns) == len(assignments) == len(students)
    assert all(is_valid_upn(upns[s["id"]]) for s in students)
    assert all(a["isTemporary"] is False and a["endDatetime"] is None for a in assignments)
    expected = {arbor_id(school, s.id): s.upn for s in school.students if s.deleted_at is None}
    assert upns == expected


def test_disadvantage_records_follow_the_flags(client: httpx.Client, school: School) -> None:
    fsm = fetch_all(
        client, "ukdfe-free-school-meal-eligibilities", "ukdfeFreeSchoolMealEligibilities"
    )
    care = fetch_all(client, "in-care-status-assignments", "inCareStatusAssignments")
    premium = fetch_all(client, "ukdfe-pupil-premium-recipients", "ukdfePupilPremiumRecipients")
    periods = {p["student"]["id"]: p for p in fsm}
    cares = {c["student"]["id"]: c for c in care}
    deprivation = {p["student"]["id"] for p in premium if p["premiumType"] == "DEPRIVATION"}
    for s in school.students:
        if s.deleted_at is not None:
            continue
        sid = arbor_id(school, s.id)
        assert (sid in periods) == s.free_school_meals_6 == (sid in deprivation)
        if s.free_school_meals_6:
            assert (periods[sid]["endDate"] is None) == s.free_school_meals
            assert (
                periods[sid]["endDate"] is None
                or periods[sid]["endDate"] > periods[sid]["startDate"]
            )
        if s.in_lea_care:
            assert cares[sid]["careStatus"] == "IN_CARE" and cares[sid]["endDate"] is None
        elif s.ever_in_care:
            assert cares[sid]["careStatus"] == "PREVIOUSLY_LOOKED_AFTER"
        else:
            assert sid not in cares


def test_mark_flags_agree_with_the_national_table(client: httpx.Client) -> None:
    marks = fetch_all(client, "attendance-marks", "attendanceMarks")
    table = national_code_table()
    assert [m["code"] for m in marks] == list(MARK_CODES)
    for mark in marks:
        code = table.lookup(mark["code"], CODES_IN_FORCE_FROM)
        assert code is not None
        assert mark["isStatisticalPossibleAttendance"] == code.counts_as_possible
        assert mark["isStatisticalPresent"] == (code.category is Category.PRESENT)
        assert mark["isStatisticalAuthorizedAbsent"] == (
            code.category is Category.AUTHORISED_ABSENCE
        )
        assert mark["isStatisticalUnauthorizedAbsent"] == (
            code.category is Category.UNAUTHORISED_ABSENCE
        )
        assert mark["isStatisticalApprovedEducationalActivity"] == (
            code.category is Category.APPROVED_EDUCATIONAL_ACTIVITY
        )


def test_records_match_the_dataset_and_filter_by_date(
    client: httpx.Client, dataset: Dataset, school: School
) -> None:
    codes = {m["id"]: m["code"] for m in client.get("attendance-marks").json()["attendanceMarks"]}
    day = dataset.school_days[10]
    params = {
        "filters.startDatetime.from": day.isoformat(),
        "filters.startDatetime.to": day.isoformat(),
    }
    rows = fetch_all(client, "attendance-records", "attendanceRecords", **params)
    got = {(r["student"]["id"], r["startDatetime"]): codes[r["attendanceMark"]["id"]] for r in rows}
    expected = {
        (arbor_id(school, s.id), f"{day} {start}"): MARK_CODES[s.marks[20 + session]]
        for s in school.students
        if s.deleted_at is None
        for session, start in enumerate(("09:00:00", "13:30:00"))
        if s.marks[20 + session] != NO_MARK
    }
    assert got == expected
    pm_only = {
        "filters.startDatetime.from": f"{day} 12:00:00",
        "filters.startDatetime.to": f"{day}T23:00:00",
    }
    pm = fetch_all(client, "attendance-records", "attendanceRecords", **pm_only)
    assert pm and all(r["startDatetime"] == f"{day} 13:30:00" for r in pm)


def changelog(client: httpx.Client, resource: str, **params: Any) -> list[dict[str, Any]]:
    return fetch_all(client, f"{resource}/changelog", "changes", **{"page-size": 1000, **params})


def test_changelog_returns_every_record_once(client: httpx.Client, school: School) -> None:
    changes = changelog(client, "attendance-records", **{"from-revision": 0})
    creates = Counter(c["changedObject"]["id"] for c in changes if c["changeType"] == "create")
    records = fetch_all(client, "attendance-records", "attendanceRecords", **{"page-size": 1000})
    assert set(creates) == {r["id"] for r in records}
    assert set(creates.values()) == {1}
    assert len(records) == sum(m != NO_MARK for s in school.students for m in s.marks)
    revisions = [c["toRevision"] for c in changes]
    assert revisions == sorted(set(revisions))
    current = client.get("students/changelog").json()["currentRevision"]
    assert revisions[-1] <= current


def test_changelog_after_the_current_revision_is_empty(client: httpx.Client) -> None:
    current = client.get("attendance-records/changelog").json()["currentRevision"]
    for resource in ("students", "attendance-records"):
        for after in (current, current + 1, current + 1000):
            body = client.get(f"{resource}/changelog", params={"from-revision": after}).json()
            assert body == {"changes": [], "currentRevision": current}


def test_changelog_revision_bounds(client: httpx.Client) -> None:
    changes = changelog(client, "attendance-records", **{"from-revision": 0})
    low, high = changes[10]["toRevision"], changes[30]["toRevision"]
    window = changelog(client, "attendance-records", **{"from-revision": low, "to-revision": high})
    assert window == changes[11:31]


def test_a_correction_is_a_create_then_an_update(client: httpx.Client) -> None:
    changes = changelog(client, "attendance-records", **{"from-revision": 0})
    updates = [c for c in changes if c["changeType"] == "update"]
    assert updates
    created = {
        c["changedObject"]["id"]: c["toRevision"] for c in changes if c["changeType"] == "create"
    }
    codes = {m["id"]: m["code"] for m in client.get("attendance-marks").json()["attendanceMarks"]}
    for update in updates:
        record_id = update["changedObject"]["id"]
        assert update["fromRevision"] == created[record_id] < update["toRevision"]
        record = client.get(update["changedObject"]["href"].removeprefix("/rest-v2/")).json()
        assert record["attendanceRecord"]["revisionId"] == update["toRevision"]
        assert codes[record["attendanceRecord"]["attendanceMark"]["id"]] == "I"
        since = changelog(client, "attendance-records", **{"from-revision": created[record_id]})
        assert [c["changeType"] for c in since if c["changedObject"]["id"] == record_id] == [
            "update"
        ]


def test_deleted_students_are_delete_changes(client: httpx.Client, school: School) -> None:
    changes = changelog(client, "students", **{"from-revision": 0})
    deleted = {arbor_id(school, s.id) for s in school.students if s.deleted_at is not None}
    assert deleted
    deletes = [c for c in changes if c["changeType"] == "delete"]
    assert {c["changedObject"]["id"] for c in deletes} == deleted
    creates = {
        c["changedObject"]["id"]: c["toRevision"] for c in changes if c["changeType"] == "create"
    }
    assert len(creates) == len(school.students)
    assert all(creates[c["changedObject"]["id"]] == c["fromRevision"] for c in deletes)
    for sid in deleted:
        assert_error(client.get(f"students/{sid}"), 404)
    live = {s["id"]: s["revisionId"] for s in fetch_all(client, "students", "students")}
    latest = {c["changedObject"]["id"]: c["toRevision"] for c in changes}
    assert live == {sid: rev for sid, rev in latest.items() if sid not in deleted}


SATELLITES = {
    "persons": "persons",
    "ukdfe-upn-assignments": "ukdfeUpnAssignments",
    "ukdfe-free-school-meal-eligibilities": "ukdfeFreeSchoolMealEligibilities",
    "ukdfe-pupil-premium-recipients": "ukdfePupilPremiumRecipients",
    "in-care-status-assignments": "inCareStatusAssignments",
}


def test_satellites_are_created_after_their_student(client: httpx.Client) -> None:
    students = {
        c["changedObject"]["id"]: c["toRevision"]
        for c in changelog(client, "students", **{"from-revision": 0})
        if c["changeType"] == "create"
    }
    persons = {p["id"]: p["id"] - 100_000 for p in fetch_all(client, "persons", "persons")}
    for resource, key in SATELLITES.items():
        rows = fetch_all(client, resource, key)
        changes = changelog(client, resource, **{"from-revision": 0})
        assert [c["changedObject"]["id"] for c in changes] == [r["id"] for r in rows], resource
        assert {c["changeType"] for c in changes} <= {"create"}
        owners = {r["id"]: persons.get(r["id"]) or r["student"]["id"] for r in rows}
        for change in changes:
            owner = owners[change["changedObject"]["id"]]
            assert students[owner] < change["toRevision"], resource


def test_changes_while_serving_take_the_next_revision(dataset: Dataset) -> None:
    with serving_arbor(dataset) as sandbox:
        school = sandbox.school(SCHOOL)
        host = sandbox.host(SCHOOL)
        before = school.current_revision
        sid = school.lists["students"][0]["id"]
        with pytest.raises(ValueError, match="objects can be added to"):
            school.add_object("students", sid, {})
        with pytest.raises(KeyError, match="no live student"):
            school.add_object("ukdfe-free-school-meal-eligibilities", 99_999, {})
        fields = {"startDate": "2025-10-01", "endDate": None}
        revision = school.add_object("ukdfe-free-school-meal-eligibilities", sid, fields)
        assert revision == before + 1 == school.current_revision
        with httpx.Client(base_url=f"{host}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as c:
            body = c.get(
                "ukdfe-free-school-meal-eligibilities/changelog", params={"from-revision": before}
            ).json()
            assert body["currentRevision"] == revision
            [change] = body["changes"]
            assert (change["changeType"], change["toRevision"]) == ("create", revision)
            added = c.get(change["changedObject"]["href"].removeprefix("/rest-v2/")).json()
            assert added["ukdfeFreeSchoolMealEligibility"] == {
                **change["changedObject"],
                "student": {"entityType": "Student", "href": f"/rest-v2/students/{sid}", "id": sid},
                **fields,
            }
            assert c.get("students/changelog", params={"from-revision": before}).json() == {
                "changes": [],
                "currentRevision": revision,
            }
            resource = "ukdfe-free-school-meal-eligibilities"
            deleted = school.delete_object(resource, change["changedObject"]["id"])
            body = c.get(f"{resource}/changelog", params={"from-revision": revision}).json()
            assert body["changes"] == [
                {
                    "changedObject": change["changedObject"],
                    "changeType": "delete",
                    "fromRevision": revision,
                    "toRevision": deleted,
                }
            ]
            assert_error(c.get(change["changedObject"]["href"].removeprefix("/rest-v2/")), 404)
            with pytest.raises(KeyError, match="no ukdfe-free-school-meal-eligibilities"):
                school.delete_object(resource, change["changedObject"]["id"])


def test_lists_filter_on_ids(client: httpx.Client, dataset: Dataset) -> None:
    day = dataset.school_days[3].isoformat()
    records = fetch_all(
        client, "attendance-records", "attendanceRecords", **{"filters.startDatetime.from": day}
    )
    wanted = [records[40]["id"], records[2]["id"], 999, records[2]["id"]]
    params = {"filters.id.in": ",".join(map(str, wanted))}
    found = client.get("attendance-records", params=params).json()["attendanceRecords"]
    assert found == [records[2], records[40]]  # in id order, unknown ids left out
    paged = fetch_all(
        client, "attendance-records", "attendanceRecords", **params, **{"page-size": 1}
    )
    assert paged == found
    params["filters.startDatetime.to"] = records[2]["startDatetime"]
    assert client.get("attendance-records", params=params).json()["attendanceRecords"] == [
        records[2]
    ]
    people = client.get("persons", params={"filters.id.in": "100003,100001"}).json()["persons"]
    assert [p["id"] for p in people] == [100001, 100003]
    assert_error(client.get("persons", params={"filters.id.in": "1,x"}), 400)
    many = ",".join(str(n) for n in range(1001))
    assert_error(client.get("attendance-records", params={"filters.id.in": many}), 400)


def test_a_mark_corrected_then_deleted_while_serving(dataset: Dataset) -> None:
    with serving_arbor(dataset) as sandbox:
        school = sandbox.school(SCHOOL)
        host = sandbox.host(SCHOOL)
        with httpx.Client(base_url=f"{host}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as c:
            codes = {
                m["id"]: m["code"] for m in c.get("attendance-marks").json()["attendanceMarks"]
            }
            day = dataset.school_days[5].isoformat()
            params = {"filters.startDatetime.from": day, "filters.startDatetime.to": day}
            records = fetch_all(c, "attendance-records", "attendanceRecords", **params)
            record = records[0]
            path = f"attendance-records/{record['id']}"
            before = school.current_revision
            with pytest.raises(ValueError, match="not a 2024 national register code"):
                school.correct_mark(record["id"], "H")
            with pytest.raises(KeyError, match="no attendance record"):
                school.correct_mark(1, "I")

            fixed = school.correct_mark(record["id"], "M")
            served = c.get(path).json()["attendanceRecord"]
            assert codes[served["attendanceMark"]["id"]] == "M"
            assert served["revisionId"] == fixed == before + 1
            gone = school.delete_mark(record["id"])
            assert_error(c.get(path), 404)
            assert fetch_all(c, "attendance-records", "attendanceRecords", **params) == records[1:]
            ref = {"entityType": "AttendanceRecord", "href": f"/rest-v2/{path}", "id": record["id"]}
            assert changelog(c, "attendance-records", **{"from-revision": before}) == [
                {
                    "changedObject": ref,
                    "changeType": "update",
                    "fromRevision": record["revisionId"],
                    "toRevision": fixed,
                },
                {
                    "changedObject": ref,
                    "changeType": "delete",
                    "fromRevision": fixed,
                    "toRevision": gone,
                },
            ]
            with pytest.raises(KeyError, match="no attendance record"):
                school.delete_mark(record["id"])


def test_a_code_of_the_schools_own_can_be_recorded(dataset: Dataset) -> None:
    with serving_arbor(dataset) as sandbox:
        school = sandbox.school(SCHOOL)
        host = sandbox.host(SCHOOL)
        with httpx.Client(base_url=f"{host}/rest-v2", auth=(SCHOOL, DEMO_TOKEN)) as c:
            table = c.get("attendance-marks").json()["attendanceMarks"]
            before = school.current_revision
            with pytest.raises(ValueError, match="not a 2024 national register code"):
                school.correct_mark(table[0]["id"], "I1")
            mark_id = school.add_code("I1", like="I")
            assert school.current_revision == before  # the code table has no changelog
            with pytest.raises(ValueError, match="already a register code"):
                school.add_code("I1", like="I")
            with pytest.raises(KeyError):
                school.add_code("I2", like="H")  # retired in 2024: not a code to be like
            illness = next(row for row in table if row["code"] == "I")
            own = c.get(f"attendance-marks/{mark_id}").json()["attendanceMark"]
            assert own["code"] == "I1" and own["id"] not in {row["id"] for row in table}
            flags = {k: v for k, v in own.items() if k.startswith("isStatistical")}
            assert flags == {k: v for k, v in illness.items() if k.startswith("isStatistical")}
            assert c.get("attendance-marks").json()["attendanceMarks"][-1] == own

            first = c.get("attendance-records", params={"page-size": 1}).json()
            record = first["attendanceRecords"][0]
            school.correct_mark(record["id"], "I1")
            served = c.get(f"attendance-records/{record['id']}").json()["attendanceRecord"]
            assert served["attendanceMark"]["id"] == mark_id
            assert served["minutesLate"] is None
