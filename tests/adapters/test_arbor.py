"""The Arbor adapter against the Arbor-style sandbox: full reads, the changelog, deletions.

Tests that change the school while it is served (a new FSM period, a register correction) run
their own sandbox, so the module's shared one keeps its history.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select

from sandbox_mis.arbor_testing import ArborSandbox, running_arbor, serving_arbor
from sandbox_mis.dataset import generate
from tests.helpers import count, one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.arbor import ArborAdapter, ArborOptions, ref_id
from trustdata.adapters.arbor_records import ArborPupil
from trustdata.adapters.base import CHARACTERISTICS, AdapterError, Page, Stream, Window
from trustdata.domain.codes import national_code_table
from trustdata.domain.records import (
    AttendanceMarkRecord,
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)
from trustdata.domain.upn import is_valid_upn, make_upn
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    characteristic_periods,
    enrolments,
    pupils,
)

SCHOOL = "A1000000001"
TOKEN = "sandbox-demo-token"


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with running_arbor(generate(scale=0.02)) as url:
        yield url


@pytest.fixture
def sandbox() -> Iterator[ArborSandbox]:
    """A sandbox of this test's own, to change while it serves."""
    with serving_arbor(generate(scale=0.02)) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def adapter(root: str, client: httpx.Client, secret: str = TOKEN, **extra: Any) -> ArborAdapter:
    options = ArborOptions(
        base_url=f"{root}/{SCHOOL}",
        username=SCHOOL,
        max_retries=0,
        max_requests_per_second=100,
        **extra,
    )
    return ArborAdapter(options=options, secret=secret, client=client)


def read(source: ArborAdapter, stream: Stream, window: Window) -> tuple[list[Any], str | None]:
    pages: list[Page] = list(source.fetch(stream, window))
    cursors = [p.cursor for p in pages if p.cursor is not None]
    return [r for p in pages for r in p.records], (cursors[-1] if cursors else None)


def listing(root: str, client: httpx.Client, resource: str, key: str) -> list[dict[str, Any]]:
    body = client.get(
        f"{root}/{SCHOOL}/rest-v2/{resource}",
        params={"page-size": "1000"},
        auth=(SCHOOL, TOKEN),
    ).json()
    rows: list[dict[str, Any]] = body[key]
    return rows


def changelog(root: str, client: httpx.Client, resource: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    number = 1
    while True:
        body = client.get(
            f"{root}/{SCHOOL}/rest-v2/{resource}/changelog",
            params={"from-revision": "0", "page-size": "1000", "page-number": str(number)},
            auth=(SCHOOL, TOKEN),
        ).json()
        if not body["changes"]:
            return changes
        changes.extend(body["changes"])
        number += 1


def test_options_are_strict_and_bounded() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ArborOptions.model_validate({"base_url": "https://x", "username": "u", "school_id": "A"})
    with pytest.raises(ValidationError):
        ArborOptions(base_url="https://x", username="u", page_size=1001)


def test_full_read_of_pupils_and_marks_that_resolve(root: str, client: httpx.Client) -> None:
    source = adapter(root, client, page_size=300)
    pupils, pupil_cursor = read(source, Stream.PUPILS, Window())
    assert pupils and all(isinstance(p, PupilRecord) for p in pupils)
    assert all(p.upn and is_valid_upn(p.upn) for p in pupils)
    assert {p.gender for p in pupils} <= {"M", "F"}
    assert all(p.nc_year is not None and p.date_of_birth for p in pupils)
    assert any(p.fsm6 for p in pupils) and any(p.fsm_eligible for p in pupils)
    assert all(p.fsm6 for p in pupils if p.fsm_eligible)
    assert pupil_cursor is not None and int(pupil_cursor) > 0
    marks, mark_cursor = read(source, Stream.ATTENDANCE, Window())
    assert marks and all(isinstance(m, AttendanceMarkRecord) for m in marks)
    assert {m.mis_pupil_id for m in marks} <= {p.mis_id for p in pupils}
    assert {m.session for m in marks} == {"AM", "PM"}
    assert len({m.mis_mark_id for m in marks}) == len(marks)
    assert mark_cursor == pupil_cursor  # one revision sequence per school


def test_codes_are_mapped_through_the_mark_table(root: str, client: httpx.Client) -> None:
    table = client.get(
        f"{root}/{SCHOOL}/rest-v2/attendance-marks",
        params={"page-size": "1000"},
        auth=(SCHOOL, TOKEN),
    ).json()["attendanceMarks"]
    source = adapter(root, client)
    assert source._codes() == {str(row["id"]): row["code"] for row in table}
    marks, _ = read(source, Stream.ATTENDANCE, Window())
    table_codes = national_code_table()
    assert all(m.source_code in table_codes for m in marks)
    assert {"/", "\\"} <= {m.source_code for m in marks}


def test_incremental_reads_from_the_latest_cursor_yield_nothing(
    root: str, client: httpx.Client
) -> None:
    source = adapter(root, client)
    for stream in ArborAdapter.streams:
        _, cursor = read(source, stream, Window())
        assert cursor is not None
        assert read(source, stream, Window(cursor=cursor))[0] == [], stream


def test_enrolments_are_the_students_dates(root: str, client: httpx.Client) -> None:
    students = listing(root, client, "students", "students")
    source = adapter(root, client, page_size=3)
    records, cursor = read(source, Stream.ENROLMENTS, Window())
    assert all(isinstance(r, EnrolmentRecord) for r in records)
    assert {(r.mis_pupil_id, r.start_date, r.end_date, r.registration) for r in records} == {
        (
            str(s["id"]),
            date.fromisoformat(s["startDate"]),
            s["endDate"] and date.fromisoformat(s["endDate"]),
            None,
        )
        for s in students
    }
    assert any(r.end_date for r in records), "the sandbox has leavers"
    assert cursor == read(source, Stream.PUPILS, Window())[1]


def periods(records: list[Any]) -> set[tuple[str, str, date, date | None]]:
    assert all(isinstance(r, CharacteristicPeriodRecord) for r in records)
    return {(r.mis_pupil_id, r.characteristic, r.start_date, r.end_date) for r in records}


def test_characteristics_from_eligibility_care_and_premium(
    sandbox: ArborSandbox, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    school = sandbox.school(SCHOOL)
    fsm = {
        (
            str(row["student"]["id"]),
            "fsm",
            date.fromisoformat(row["startDate"]),
            row["endDate"] and date.fromisoformat(row["endDate"]),
        )
        for row in school.lists["ukdfe-free-school-meal-eligibilities"]
    }
    assert fsm, "the sandbox has FSM periods"
    one, two, three, four, five = (s["id"] for s in school.lists["students"][:5])
    added = [
        (one, "IN_CARE", "2024-01-10", None),
        (two, "PREVIOUSLY_LOOKED_AFTER", "2019-02-10", "2020-03-16"),
        (three, "IN_CARE", None, None),  # no start date: skipped
        (three, "RESPITE", "2024-01-10", None),  # a status the adapter does not know
    ]
    for sid, status, start, end in added:
        fields = {"careStatus": status, "startDate": start, "endDate": end}
        school.add_object("in-care-status-assignments", sid, fields)
    for sid, kind in ((four, "SERVICE_CHILD"), (five, "LOOKED_AFTER")):
        fields = {"premiumType": kind, "startDate": "2025-04-01", "endDate": "2026-03-31"}
        school.add_object("ukdfe-pupil-premium-recipients", sid, fields)
    with caplog.at_level(logging.WARNING, logger="trustdata.adapters.arbor"):
        records, cursor = read(adapter(sandbox.root, client), Stream.CHARACTERISTICS, Window())
    assert periods(records) == fsm | {
        (str(one), "cla", date(2024, 1, 10), None),
        (str(two), "plac", date(2019, 2, 10), date(2020, 3, 16)),
        (str(four), "service_child", date(2025, 4, 1), date(2026, 3, 31)),
    }
    assert cursor == str(school.current_revision)
    assert [r.getMessage() for r in caplog.records] == [
        "arbor characteristics: skipped 2 rows "
        "(care status not known: 1, cla without a start date: 1)"
    ]


def test_characteristics_name_the_sets_arbor_holds_no_row_of(
    root: str, client: httpx.Client
) -> None:
    pages = list(adapter(root, client, page_size=2).fetch(Stream.CHARACTERISTICS, Window()))
    assert pages[0].covers and not any(page.covers for page in pages[1:])
    roll = {str(s["id"]) for s in listing(root, client, "students", "students")}
    held = {(r.mis_pupil_id, r.characteristic) for page in pages for r in page.records}
    assert set(pages[0].covers) == {(sid, c) for sid in roll for c in CHARACTERISTICS} - held


def test_a_set_a_skipped_row_may_belong_to_is_not_covered(
    sandbox: ArborSandbox, client: httpx.Client
) -> None:
    """A skipped row may be a period of its set (any care set, for a care status not known):
    covering the set as empty would withdraw the pupil's stored periods of it."""
    school = sandbox.school(SCHOOL)
    satellites = (
        "ukdfe-free-school-meal-eligibilities",
        "in-care-status-assignments",
        "ukdfe-pupil-premium-recipients",
    )
    owners = {row["student"]["id"] for resource in satellites for row in school.lists[resource]}
    without = [s["id"] for s in school.lists["students"] if s["id"] not in owners]
    unknown, no_start, fsm, service, control = without[:5]
    care = "in-care-status-assignments"
    school.add_object(care, unknown, {"careStatus": "RESPITE", "startDate": "2024-01-10"})
    school.add_object(care, no_start, {"careStatus": "IN_CARE", "startDate": None})
    school.add_object(
        "ukdfe-free-school-meal-eligibilities", fsm, {"startDate": None, "endDate": None}
    )
    school.add_object(
        "ukdfe-pupil-premium-recipients",
        service,
        {"premiumType": "SERVICE_CHILD", "startDate": None, "endDate": None},
    )
    pages = list(adapter(sandbox.root, client).fetch(Stream.CHARACTERISTICS, Window()))
    covers = {(sid, c) for page in pages for sid, c in page.covers}
    assert {c for sid, c in covers if sid == str(control)} == set(CHARACTERISTICS)
    assert {c for sid, c in covers if sid == str(unknown)} == {"fsm", "service_child"}
    assert {c for sid, c in covers if sid == str(no_start)} == {"fsm", "service_child"}
    assert {c for sid, c in covers if sid == str(fsm)} == {"cla", "plac", "service_child"}
    assert {c for sid, c in covers if sid == str(service)} == {"fsm", "cla", "plac"}


def test_a_skipped_care_row_leaves_both_care_sets_uncovered() -> None:
    pupil = ArborPupil(student={"id": 1})
    pupil.care.append({"careStatus": "IN_CARE", "startDate": "2024-01-10", "endDate": None})
    pupil.care.append({"careStatus": "RESPITE", "startDate": "2024-02-10", "endDate": None})
    skipped: Counter[str] = Counter()
    records, not_empty = pupil.periods("1", skipped)
    assert [(r.characteristic, r.start_date) for r in records] == [("cla", date(2024, 1, 10))]
    assert not_empty == {"cla", "plac"}
    assert skipped == Counter({"care status not known": 1})


def test_a_new_fsm_period_alone_is_read_incrementally(
    sandbox: ArborSandbox, client: httpx.Client
) -> None:
    source = adapter(sandbox.root, client)
    school = sandbox.school(SCHOOL)
    cursors = {stream: read(source, stream, Window())[1] for stream in ArborAdapter.streams}
    pupils = {p.mis_id: p for p in read(source, Stream.PUPILS, Window())[0]}
    sid = next(int(mis_id) for mis_id, p in pupils.items() if not p.fsm6)
    # A new eligibility is its own object: the student's revision does not move.
    revision = school.add_object(
        "ukdfe-free-school-meal-eligibilities", sid, {"startDate": "2025-10-01", "endDate": None}
    )
    changed = {stream: read(source, stream, Window(cursor=cursors[stream])) for stream in cursors}
    assert changed[Stream.ENROLMENTS] == ([], None)
    assert changed[Stream.ATTENDANCE][0] == [] and changed[Stream.DELETIONS][0] == []
    records, cursor = changed[Stream.CHARACTERISTICS]
    assert cursor == str(revision)
    assert (str(sid), "fsm", date(2025, 10, 1), None) in periods(records)
    assert periods(records) == periods(read(source, Stream.CHARACTERISTICS, Window())[0])
    now = {p.mis_id: p for p in changed[Stream.PUPILS][0]}
    assert now[str(sid)].fsm_eligible and now[str(sid)].fsm6


def test_a_upn_fix_rereads_enrolments_and_characteristics(
    sandbox: ArborSandbox, client: httpx.Client
) -> None:
    """Both are keyed to pupils by UPN downstream: a corrected UPN must reach them too."""
    source = adapter(sandbox.root, client)
    school = sandbox.school(SCHOOL)
    streams = (Stream.ENROLMENTS, Stream.CHARACTERISTICS)
    full = {stream: read(source, stream, Window()) for stream in streams}
    revision = school.add_object(
        "ukdfe-upn-assignments",
        school.lists["students"][0]["id"],
        {
            "upn": make_upn(990, 2001, 2026, 998),
            "isTemporary": False,
            "startDatetime": "2026-01-01 00:00:00",
        },
    )
    for stream in streams:
        records, cursor = read(source, stream, Window(cursor=full[stream][1]))
        assert (records, cursor) == (full[stream][0], str(revision)), stream


def test_flags_and_upn_are_judged_as_at_the_window_date(
    sandbox: ArborSandbox, client: httpx.Client
) -> None:
    school = sandbox.school(SCHOOL)
    fsm = {row["student"]["id"] for row in school.lists["ukdfe-free-school-meal-eligibilities"]}
    first, second, *_ = (s["id"] for s in school.lists["students"] if s["id"] not in fsm)
    school.add_object(
        "ukdfe-free-school-meal-eligibilities",
        first,
        {"startDate": "2019-09-01", "endDate": "2020-07-20"},
    )
    school.add_object(
        "in-care-status-assignments",
        first,
        {"careStatus": "IN_CARE", "startDate": "2024-01-10", "endDate": "2025-07-01"},
    )
    upn = make_upn(990, 2001, 2026, 999)
    school.add_object(
        "ukdfe-upn-assignments",
        second,
        {"upn": upn, "isTemporary": False, "startDatetime": "2026-01-01 00:00:00"},
    )
    source = adapter(sandbox.root, client)

    def as_at(day: date) -> dict[str, PupilRecord]:
        records, _ = read(source, Stream.PUPILS, Window(as_at=day))
        return {r.mis_id: r for r in records}

    pupils = as_at(date(2019, 6, 1))
    assert (pupils[str(first)].fsm_eligible, pupils[str(first)].fsm6) == (False, False)
    pupils = as_at(date(2020, 1, 15))
    assert (pupils[str(first)].fsm_eligible, pupils[str(first)].fsm6) == (True, True)
    pupils = as_at(date(2024, 6, 1))
    assert (pupils[str(first)].fsm_eligible, pupils[str(first)].fsm6) == (False, True)
    assert pupils[str(first)].in_care is True
    assert as_at(date(2025, 9, 1))[str(first)].in_care is False
    assert as_at(date(2025, 12, 1))[str(second)].upn != upn
    assert as_at(date(2026, 2, 1))[str(second)].upn == upn
    # Without a date, today: the UPN assignment open now, the latest started.
    assert read(source, Stream.PUPILS, Window())[0] == list(as_at(date.today()).values())


def test_incremental_read_returns_a_corrected_mark(root: str, client: httpx.Client) -> None:
    changes = changelog(root, client, "attendance-records")
    updates = [c for c in changes if c["changeType"] == "update"]
    assert updates, "the sandbox corrects some registers"
    update = updates[-1]  # the latest correction: the fewest changes to read after it
    record_id = str(update["changedObject"]["id"])
    before = update["toRevision"] - 1
    marks, cursor = read(adapter(root, client), Stream.ATTENDANCE, Window(cursor=str(before)))
    corrected = [m for m in marks if m.mis_mark_id == record_id]
    assert len(corrected) == 1 and corrected[0].source_code == "I"
    assert cursor is not None and int(cursor) >= update["toRevision"]
    later = [c for c in changes if c["toRevision"] > before and c["changeType"] != "delete"]
    assert {m.mis_mark_id for m in marks} == {str(ref_id(c["changedObject"])) for c in later}


def counting(client: httpx.Client) -> Counter[str]:
    """Count the client's requests by path (after ``/rest-v2/``), through its event hooks."""
    seen: Counter[str] = Counter()

    def hook(request: httpx.Request) -> None:
        seen[request.url.path.split("/rest-v2/", 1)[-1]] += 1

    client.event_hooks["request"].append(hook)
    return seen


def test_a_changed_day_is_read_in_id_chunks(
    sandbox: ArborSandbox, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    school = sandbox.school(SCHOOL)
    last_day = max(school.days).isoformat()
    day = client.get(
        f"{sandbox.host(SCHOOL)}/rest-v2/attendance-records",
        params={"filters.startDatetime.from": last_day, "page-size": "1000"},
        auth=(SCHOOL, TOKEN),
    ).json()["attendanceRecords"]
    day_changes = [
        c
        for c in changelog(sandbox.root, client, "attendance-records")
        if c["changedObject"]["id"] in {row["id"] for row in day}
    ]
    before = min(c["toRevision"] for c in day_changes) - 1
    corrected, deleted = day[0]["id"], day[1]["id"]
    school.correct_mark(corrected, "M")
    school.delete_mark(deleted)
    requests = counting(client)
    with caplog.at_level(logging.WARNING, logger="trustdata.adapters.arbor"):
        marks, cursor = read(
            adapter(sandbox.root, client, page_size=5),
            Stream.ATTENDANCE,
            Window(cursor=str(before)),
        )
    assert cursor == str(school.current_revision)
    assert {m.mis_mark_id for m in marks} == {str(row["id"]) for row in day} - {str(deleted)}
    assert len(marks) == len(day) - 1
    assert next(m.source_code for m in marks if m.mis_mark_id == str(corrected)) == "M"
    # Chunks of 5 ids (the page size): one list read each, not one GET per record; the chunk
    # holding the record deleted since the changelog named it reads on to an empty page.
    assert requests["attendance-records"] == -(-len(day) // 5) + 1
    assert set(requests) == {
        "attendance-marks",
        "attendance-records/changelog",
        "attendance-records",
    }
    assert [r.getMessage() for r in caplog.records] == [
        f"arbor attendance after revision {before}: 1 records deleted and 0 changed records "
        "no longer served; the deletions stream removes deleted marks"
    ]


def test_a_server_that_ignores_the_id_filter_is_an_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/changelog"):
            change = {"changedObject": {"id": 7}, "changeType": "update", "toRevision": 9}
            changes = [change] if request.url.params.get("page-number", "1") == "1" else []
            return httpx.Response(200, json={"changes": changes, "currentRevision": 9})
        if path.endswith("/attendance-marks"):
            return httpx.Response(200, json={"attendanceMarks": []})
        # Every record, whatever the filter says.
        return httpx.Response(200, json={"attendanceRecords": [{"id": 1}, {"id": 7}]})

    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        source = adapter("https://arbor.test", client)
        with pytest.raises(AdapterError, match=r"ignored filters.id.in.*clear the attendance"):
            list(source.fetch(Stream.ATTENDANCE, Window(cursor="8")))


def test_deletions_come_from_the_student_changelog(root: str, client: httpx.Client) -> None:
    deleted = {
        str(c["changedObject"]["id"])
        for c in changelog(root, client, "students")
        if c["changeType"] == "delete"
    }
    assert deleted, "the sandbox deletes some student records"
    source = adapter(root, client)
    requests = counting(client)
    records, _ = read(source, Stream.DELETIONS, Window())
    assert all(isinstance(r, DeletionRecord) and r.object_type == "pupil" for r in records)
    assert {r.mis_id for r in records} == deleted
    # A full read does not replay the marks' changelog (every mark ever taken).
    assert "attendance-records/changelog" not in requests
    pupils, _ = read(source, Stream.PUPILS, Window())
    assert not deleted & {p.mis_id for p in pupils}


def test_deletions_at_a_school_that_never_deleted_a_student_keep_a_cursor(
    client: httpx.Client,
) -> None:
    """A full read with nothing deleted still yields a page with the cursor, so the next run
    reads from it (and, from a cursor on, the marks' changelog); and a run from a cursor with
    nothing deleted moves the cursor on."""
    dataset = generate(scale=0.02)
    for held in dataset.schools:
        held.students = [s for s in held.students if s.deleted_at is None]
    with serving_arbor(dataset) as sandbox:
        school = sandbox.school(SCHOOL)
        source = adapter(sandbox.root, client)
        pages = list(source.fetch(Stream.DELETIONS, Window()))
        assert [(p.records, p.cursor) for p in pages] == [([], str(school.current_revision))]
        first = pages[0].cursor
        # Nothing deleted since: the cursor still moves to the school's latest revision.
        school.add_object(
            "ukdfe-free-school-meal-eligibilities",
            school.lists["students"][0]["id"],
            {"startDate": "2025-10-01", "endDate": None},
        )
        records, moved = read(source, Stream.DELETIONS, Window(cursor=first))
        assert records == [] and moved == str(school.current_revision) != first
        record = an_n_mark(sandbox, client)
        school.delete_mark(record["id"])
        records, cursor = read(source, Stream.DELETIONS, Window(cursor=moved))
        assert records == [DeletionRecord("attendance_mark", str(record["id"]), None)]
        assert cursor == str(school.current_revision)


def test_an_attendance_read_with_no_marks_to_return_keeps_a_cursor(
    sandbox: ArborSandbox, client: httpx.Client
) -> None:
    school = sandbox.school(SCHOOL)
    source = adapter(sandbox.root, client)
    _, first = read(source, Stream.ATTENDANCE, Window())
    school.delete_mark(an_n_mark(sandbox, client)["id"])
    # Only a deletion since: no mark to return, but the cursor moves past it.
    pages = list(source.fetch(Stream.ATTENDANCE, Window(cursor=first)))
    assert [(p.records, p.cursor) for p in pages] == [([], str(school.current_revision))]


def test_pupils_after_a_student_change_reread_the_roll(root: str, client: httpx.Client) -> None:
    changes = changelog(root, client, "students")
    before = changes[-1]["toRevision"] - 1
    pupils, _ = read(adapter(root, client), Stream.PUPILS, Window(cursor=str(before)))
    full, _ = read(adapter(root, client), Stream.PUPILS, Window())
    assert pupils == full


def test_wrong_password_is_a_401_without_the_password(root: str, client: httpx.Client) -> None:
    with pytest.raises(AdapterError, match=r"HTTP 401.*check the username option") as caught:
        adapter(root, client, secret="s3cret-wrong").check_connection()
    assert "s3cret-wrong" not in str(caught.value)
    assert "s3cret-wrong" not in repr(adapter(root, client, secret="s3cret-wrong"))


def test_a_cursor_that_is_not_a_revision_is_an_error(root: str, client: httpx.Client) -> None:
    with pytest.raises(AdapterError, match="not a revision number"):
        list(adapter(root, client).fetch(Stream.DELETIONS, Window(cursor="yesterday")))


def test_source_key_names_the_host(root: str, client: httpx.Client) -> None:
    assert adapter(root, client).source_key() == f"arbor:{root}/{SCHOOL}"


# --- end to end: land -> audit -> publish into PostgreSQL, resuming from the stored cursor ------

ACADEMY = "arboracademy"


def arbor_trust_config(folder: Path, root: str) -> Path:
    """A one-academy trust config whose academy is the sandbox's first Arbor school."""
    options = {
        "base_url": f"{root}/{SCHOOL}",
        "username": SCHOOL,
        "page_size": 1000,
        "max_requests_per_second": 100,
    }
    return one_academy_config(
        folder,
        academy_id=ACADEMY,
        urn="990801",
        kind="arbor",
        options=options,
        credential_env="TD_ARBOR_TOKEN",
    )


def sync(config: Path, stream: str) -> dict[str, Any]:
    return sync_stream(config, ACADEMY, stream)


def test_sync_through_the_pipeline_resumes_from_the_cursor(
    tmp_path: Path, root: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_ARBOR_TOKEN", TOKEN)
    config = arbor_trust_config(tmp_path, root)
    orchestration.prepare_warehouse(config_path=str(config))
    streams = ("pupils", "enrolments", "characteristics", "attendance", "deletions")
    first = {stream: sync(config, stream) for stream in streams}
    assert first["pupils"]["rows_published"] == count(engine, pupils) > 0
    assert first["enrolments"]["rows_published"] == count(engine, enrolments) > 0
    assert first["characteristics"]["rows_published"] == count(engine, characteristic_periods) > 0
    assert first["attendance"]["rows_published"] == count(engine, attendance_marks) > 0
    cursors = {stream: result["cursor"] for stream, result in first.items()}
    assert all(cursors.values())
    # Nothing changed at the source since: every stream lands nothing from its stored cursor,
    # and an empty incremental roll publishes (only an empty *full* roll is blocked).
    for stream in streams:
        again = sync(config, stream)
        assert again["rows_landed"] == 0 and again["status"] == "published", stream


def test_a_deleted_fsm_period_is_withdrawn_downstream(
    tmp_path: Path, sandbox: ArborSandbox, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_ARBOR_TOKEN", TOKEN)
    config = arbor_trust_config(tmp_path, sandbox.root)
    orchestration.prepare_warehouse(config_path=str(config))
    sync(config, "pupils")
    sync(config, "characteristics")
    school = sandbox.school(SCHOOL)
    fsm = school.lists["ukdfe-free-school-meal-eligibilities"]
    owners = Counter(row["student"]["id"] for row in fsm)
    entered_in_error = next(row for row in fsm if owners[row["student"]["id"]] == 1)
    school.delete_object("ukdfe-free-school-meal-eligibilities", entered_in_error["id"])
    again = sync(config, "characteristics")
    assert again["rows_published"] == 1  # the pupil's only FSM period, now withdrawn
    with engine.connect() as conn:
        withdrawn = conn.execute(
            select(characteristic_periods.c.mis_id, characteristic_periods.c.characteristic).where(
                characteristic_periods.c.withdrawn_at.is_not(None)
            )
        ).all()
    assert withdrawn == [(str(entered_in_error["student"]["id"]), "fsm")]


def an_n_mark(sandbox: ArborSandbox, client: httpx.Client) -> dict[str, Any]:
    """A record the register took as N (no reason yet), as the sandbox serves it now."""
    school = sandbox.school(SCHOOL)
    n_mark = next(row["id"] for row in school.lists["attendance-marks"] if row["code"] == "N")
    page, number = [1], 1
    while page:
        page = client.get(
            f"{sandbox.host(SCHOOL)}/rest-v2/attendance-records",
            params={"page-size": "1000", "page-number": str(number)},
            auth=(SCHOOL, TOKEN),
        ).json()["attendanceRecords"]
        found = [row for row in page if row["attendanceMark"]["id"] == n_mark]
        if found:
            return found[-1]
        number += 1
    raise AssertionError("the sandbox school has no N mark")


def synced_with_an_n_mark(
    tmp_path: Path, sandbox: ArborSandbox, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], Path]:
    """An N mark of the sandbox school, and a config whose roll is already published."""
    record = an_n_mark(sandbox, client)
    monkeypatch.setenv("TD_ARBOR_TOKEN", TOKEN)
    config = arbor_trust_config(tmp_path, sandbox.root)
    orchestration.prepare_warehouse(config_path=str(config))
    sync(config, "pupils")
    return record, config


def test_a_correction_after_a_full_read_reaches_the_warehouse(
    tmp_path: Path,
    sandbox: ArborSandbox,
    client: httpx.Client,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record, config = synced_with_an_n_mark(tmp_path, sandbox, client, monkeypatch)
    record_id = str(record["id"])
    full = sync(config, "attendance")
    stored = select(attendance_marks.c.code, attendance_marks.c.source_code).where(
        attendance_marks.c.mis_mark_id == record_id
    )
    with engine.connect() as conn:
        assert conn.execute(stored).one() == ("N", "N")

    # The register is corrected in the MIS: the changelog names the record as updated.
    revision = sandbox.school(SCHOOL).correct_mark(record["id"], "I")
    marks, cursor = read(
        adapter(sandbox.root, client), Stream.ATTENDANCE, Window(cursor=full["cursor"])
    )
    assert [(m.mis_mark_id, m.source_code) for m in marks] == [(record_id, "I")]
    assert cursor == str(revision)

    again = sync(config, "attendance")
    assert (again["rows_landed"], again["rows_published"], again["cursor"]) == (1, 1, str(revision))
    superseded = select(
        attendance_marks_superseded.c.code,
        attendance_marks_superseded.c.source_code,
        attendance_marks_superseded.c.superseded_by_batch_id,
    ).where(attendance_marks_superseded.c.mis_mark_id == record_id)
    with engine.connect() as conn:
        assert conn.execute(stored).one() == ("I", "I")
        assert [tuple(row) for row in conn.execute(superseded)] == [
            ("N", "N", uuid.UUID(again["batch_id"]))
        ]


def test_a_mark_deleted_in_arbor_leaves_the_published_marks(
    tmp_path: Path,
    sandbox: ArborSandbox,
    client: httpx.Client,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record, config = synced_with_an_n_mark(tmp_path, sandbox, client, monkeypatch)
    record_id = str(record["id"])
    sync(config, "attendance")
    first = sync(config, "deletions")
    marks = count(engine, attendance_marks)

    # The mark was taken in error and deleted in the MIS.
    sandbox.school(SCHOOL).delete_mark(record["id"])
    records, _ = read(
        adapter(sandbox.root, client), Stream.DELETIONS, Window(cursor=first["cursor"])
    )
    assert records == [DeletionRecord("attendance_mark", record_id, None)]
    done = sync(config, "deletions")
    assert done["rows_published"] == 2  # the deletion recorded, the mark moved
    assert count(engine, attendance_marks) == marks - 1
    kept = select(
        attendance_marks_superseded.c.code, attendance_marks_superseded.c.superseded_by_batch_id
    )
    with engine.connect() as conn:
        assert [
            tuple(r)
            for r in conn.execute(
                kept.where(attendance_marks_superseded.c.mis_mark_id == record_id)
            )
        ] == [("N", uuid.UUID(done["batch_id"]))]
    # Re-running changes nothing, and the look-back re-read does not bring the mark back.
    assert sync(config, "deletions")["rows_published"] == 0
    sync(config, "attendance")
    assert count(engine, attendance_marks) == marks - 1


@pytest.mark.parametrize(
    ("status", "start", "end", "day", "expected"),
    [
        # A care spell that simply ended (the child went home) is not PLAC.
        ("IN_CARE", "2020-01-06", "2021-03-01", date(2025, 9, 1), (False, False)),
        ("IN_CARE", "2020-01-06", None, date(2025, 9, 1), (True, False)),
        # Left care by adoption or an order: PLAC from its start, whatever its end date.
        ("PREVIOUSLY_LOOKED_AFTER", "2021-03-02", "2022-01-01", date(2025, 9, 1), (False, True)),
        ("ADOPTED_FROM_CARE", "2021-03-02", None, date(2025, 9, 1), (False, True)),
        ("SPECIAL_GUARDIANSHIP_ORDER", "2026-01-05", None, date(2025, 9, 1), (False, False)),
    ],
)
def test_previously_looked_after_is_the_dfe_meaning(
    status: str, start: str, end: str | None, day: date, expected: tuple[bool, bool]
) -> None:
    pupil = ArborPupil(student={"id": 1})
    pupil.care.append({"careStatus": status, "startDate": start, "endDate": end})
    assert pupil.care_flags(day) == expected
