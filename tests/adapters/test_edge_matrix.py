"""Every adapter against the issue's seven edge cases: where each cell is tested, and the tests
that filled the empty cells.

Pipeline outcomes are checked through land -> audit -> publish into PostgreSQL: a deleted pupil
gets ``raw.pupils.deleted_at``; a back-dated correction replaces the stored mark and keeps the
old one in ``raw.attendance_marks_superseded``; a mark for an unknown pupil is quarantined as
``pupil_known``; an unmapped code blocks the batch, naming the code and its count; a duplicate
publishes once. Files: E ``tests/pipeline/test_edges.py`` (scripted Wonde fake),
WR ``test_wonde_resilience.py``, A ``test_arbor.py``, AR ``test_arbor_resilience.py``,
C ``test_csv_export.py``, T ``test_ctf.py``, M this module.

1. pupil deleted       wonde E test_explicit_deletion_hides_the_pupil_and_a_restore_brings_them_back
                       arbor M test_arbor_student_deleted_in_the_mis
                       csv   C test_every_stream_publishes_through_the_pipeline (deletions report)
                       ctf   N/A: a CTF is a snapshot of the pupils it transfers; it has no
                             deletion records, and a pupil missing from a file is not deleted
                             (the adapter refuses the stream: T test_other_streams_are_refused)
2. back-dated          wonde E test_back_dated_correction_replaces_the_mark_and_keeps_the_old_one
   correction          arbor A test_a_correction_after_a_full_read_reaches_the_warehouse (the
                             changelog names the corrected record: no look-back needed)
                       csv   M test_csv_newer_file_corrects_an_older_mark
                       ctf   M test_ctf_newer_file_corrects_an_older_mark
3. mark for an         wonde E test_mark_for_unknown_pupil_is_quarantined_and_the_rest_publish
   unknown pupil       arbor M test_arbor_marks_for_a_pupil_not_on_the_roll
                       csv   M test_csv_mark_for_a_pupil_not_on_the_roll
                       ctf   M test_ctf_marks_of_a_quarantined_pupil (marks sit inside the pupil,
                             so an unknown pupil is one the audit kept off the roll)
4. unmapped code       wonde E test_unmapped_code_blocks_the_batch_and_keeps_the_watermark
                       arbor M test_arbor_unmapped_code_blocks_until_mapped
                       csv   C test_sync_through_the_pipeline_and_an_unmapped_code_blocks
                       ctf   M test_ctf_unmapped_code_blocks
5. duplicated page     wonde WR test_repeated_pages_land_twice_and_publish_once
                       arbor M test_arbor_repeated_page_lands_twice_and_publishes_once (adapter
                             alone: AR test_a_repeated_page_duplicates_and_loses_nothing)
                       csv   M test_csv_same_rows_in_two_files_publish_once
                       ctf   M test_ctf_same_file_twice_publishes_once (a pupil is read
                             from the newer file only; marks land from both and publish once)
6. 429 storm           wonde WR test_faults_do_not_change_what_is_published[429 storm ...],
                             test_a_storm_longer_than_the_retries_fails_cleanly
                       arbor AR test_faults_do_not_change_what_is_read[429 storm ...],
                             test_running_out_of_retries_fails_clearly[429 storm],
                             test_a_failed_landing_keeps_the_cursor
                       csv, ctf N/A: files are read from a local folder, over no HTTP
7. timeout mid-stream  wonde WR test_faults_do_not_change_what_is_published[timeout mid-stream]
                       arbor AR test_faults_do_not_change_what_is_read[timeout mid-stream],
                             test_running_out_of_retries_fails_clearly[timeouts]
                       csv, ctf N/A: no requests to time out (a folder that is not there is
                             an error naming the option: C, T test_missing_folder_names_the_option)

All data is made up: the sandbox's synthetic trust, and files of ``make_upn`` UPNs.
"""

from __future__ import annotations

import copy
import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from sandbox_mis.arbor_testing import running_arbor, serving_arbor
from sandbox_mis.dataset import DEMO_TOKEN, Dataset, generate
from sandbox_mis.faults import Faults
from sandbox_mis.models import NO_MARK
from tests.adapters import test_csv_export as csv_files
from tests.adapters import test_ctf as ctf_files
from tests.helpers import count, one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    pupils,
    quarantine,
    watermarks,
)


def stored_mark(engine: Engine, upn: str, day: date, session: str) -> tuple[str, str]:
    """The published (code, source code) of one pupil's session."""
    marks = attendance_marks.c
    with engine.connect() as conn:
        row = conn.execute(
            select(marks.code, marks.source_code).where(
                marks.upn == upn, marks.mark_date == day, marks.session == session
            )
        ).one()
    return row[0], row[1]


def superseded(engine: Engine) -> list[tuple[Any, ...]]:
    """Every superseded mark as (upn, date, session, code)."""
    old = attendance_marks_superseded.c
    with engine.connect() as conn:
        rows = conn.execute(select(old.upn, old.mark_date, old.session, old.code)).all()
    return [tuple(row) for row in rows]


def quarantined(engine: Engine, stream: str) -> list[tuple[str, str]]:
    """(check, MIS pupil id) of each quarantined row of ``stream``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.check_name, quarantine.c.record).where(
                quarantine.c.stream == stream
            )
        ).all()
    return [(check, record["mis_pupil_id"]) for check, record in rows]


# --- Arbor: the Arbor-style sandbox on loopback ---------------------------------------------------

ARBOR = "arboracademy"
SCHOOL = "A1000000001"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(scale=0.02)


@pytest.fixture
def arbor_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TD_ARBOR_TOKEN", DEMO_TOKEN)


def arbor_config(
    folder: Path, root: str, *, code_map: dict[str, str] | None = None, page_size: int = 1000
) -> Path:
    """A one-academy trust config reading the sandbox's first school (written over any
    config already in ``folder``: a new sandbox has a new port)."""
    options = {
        "base_url": f"{root}/{SCHOOL}",
        "username": SCHOOL,
        "page_size": page_size,
        "max_requests_per_second": 100,
    }
    path = one_academy_config(
        folder,
        academy_id=ARBOR,
        urn="990801",
        kind="arbor",
        options=options,
        credential_env="TD_ARBOR_TOKEN",
        code_map=code_map,
    )
    orchestration.prepare_warehouse(config_path=str(path))
    return path


def served_marks(dataset: Dataset, arbor_id: int | None = None) -> int:
    """How many marks the school serves (only student ``arbor_id``'s, when given)."""
    school = dataset.school(SCHOOL)
    assert school is not None
    return sum(
        sum(1 for mark in student.marks if mark != NO_MARK)
        for n, student in enumerate(school.students, start=1)
        if student.deleted_at is None and arbor_id in (None, n)
    )


def with_a_student_deleted(dataset: Dataset) -> tuple[Dataset, int]:
    """The dataset after a live, marked student's record was deleted (entered in error);
    returns it and the student's Arbor id (its position in the school's records)."""
    deleted = copy.deepcopy(dataset)
    school = deleted.school(SCHOOL)
    assert school is not None
    arbor_id, student = next(
        (n, s)
        for n, s in enumerate(school.students, start=1)
        if s.deleted_at is None and s.leaving_date is None and any(m != NO_MARK for m in s.marks)
    )
    student.deleted_at = student.created_at + timedelta(days=30)
    return deleted, arbor_id


def test_arbor_student_deleted_in_the_mis(
    tmp_path: Path, dataset: Dataset, engine: Engine, arbor_token: None
) -> None:
    deleted, arbor_id = with_a_student_deleted(dataset)
    with running_arbor(dataset) as root:
        config = arbor_config(tmp_path, root)
        assert sync_stream(config, ARBOR, "pupils")["rows_published"] > 1
    # The same school served after the record was deleted: its changelog has the delete.
    with running_arbor(deleted) as root:
        config = arbor_config(tmp_path, root)
        sync_stream(config, ARBOR, "deletions")
    with engine.connect() as conn:
        marked = conn.execute(
            select(pupils.c.mis_id).where(pupils.c.deleted_at.is_not(None))
        ).scalars()
        assert list(marked) == [str(arbor_id)]


def test_arbor_marks_for_a_pupil_not_on_the_roll(
    tmp_path: Path, dataset: Dataset, engine: Engine, arbor_token: None
) -> None:
    # The roll was read without the student (as before a joiner's record reached it) ...
    without, arbor_id = with_a_student_deleted(dataset)
    with running_arbor(without) as root:
        sync_stream(arbor_config(tmp_path, root), ARBOR, "pupils")
    # ... and the registers hold their marks: those are quarantined, the rest publish.
    with running_arbor(dataset) as root:
        result = sync_stream(arbor_config(tmp_path, root), ARBOR, "attendance")
    theirs = served_marks(dataset, arbor_id)
    assert theirs > 0
    assert result["rows_quarantined"] == theirs
    assert result["rows_published"] == count(engine, attendance_marks)
    assert result["rows_published"] == served_marks(dataset) - theirs
    assert set(quarantined(engine, "attendance")) == {("pupil_known", str(arbor_id))}


def test_arbor_unmapped_code_blocks_until_mapped(
    tmp_path: Path, dataset: Dataset, engine: Engine, arbor_token: None
) -> None:
    with serving_arbor(dataset) as sandbox, httpx.Client() as client:
        school = sandbox.school(SCHOOL)
        school.add_code("I1", like="I")  # the school's own sub-code for illness
        first = client.get(
            f"{sandbox.host(SCHOOL)}/rest-v2/attendance-records",
            params={"page-size": "2"},
            auth=(SCHOOL, DEMO_TOKEN),
        ).json()["attendanceRecords"]
        for record in first:
            school.correct_mark(record["id"], "I1")
        config = arbor_config(tmp_path, sandbox.root)
        sync_stream(config, ARBOR, "pupils")
        landed = orchestration.land_stream(
            academy_id=ARBOR, stream="attendance", config_path=str(config)
        )
        with pytest.raises(BatchBlocked, match=r"'I1' x 2 .*code_map"):
            orchestration.audit_stream(batch_id=landed["batch_id"], config_path=str(config))
        assert count(engine, attendance_marks) == 0
        with engine.connect() as conn:
            stored = conn.execute(
                select(watermarks.c.cursor).where(watermarks.c.stream == "attendance")
            ).first()
        assert stored is None  # the next sync reads the same marks again

        mapped = arbor_config(tmp_path, sandbox.root, code_map={"I1": "I"})
        result = sync_stream(mapped, ARBOR, "attendance")
    assert result["rows_published"] == served_marks(dataset)
    with engine.connect() as conn:
        codes = conn.execute(
            select(attendance_marks.c.code).where(attendance_marks.c.source_code == "I1")
        ).scalars()
        assert list(codes) == ["I", "I"]


def test_arbor_repeated_page_lands_twice_and_publishes_once(
    tmp_path: Path, dataset: Dataset, engine: Engine, arbor_token: None
) -> None:
    repeat = Faults(repeat_pages=frozenset({2}), resources=frozenset({"attendance-records"}))
    with running_arbor(dataset, repeat) as root:
        config = arbor_config(tmp_path, root, page_size=500)
        sync_stream(config, ARBOR, "pupils")
        result = sync_stream(config, ARBOR, "attendance")
    every = served_marks(dataset)
    assert every > 3 * 500  # page 2 is well inside the stream
    assert result["rows_landed"] == every + 500
    assert result["rows_published"] == every == count(engine, attendance_marks)
    assert result["rows_quarantined"] == 0


# --- CSV reports in a drop folder -----------------------------------------------------------------

CSV = csv_files.ACADEMY


@pytest.fixture
def csv_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Path:
    """The CSV academy's drop folder (3 pupils, Monday's present marks, saved EARLY), with the
    warehouse prepared for it; its config is ``tmp_path / trust.yaml``."""
    monkeypatch.setenv("TD_CSV_NO_SECRET", "none")
    drop = tmp_path / "drop"
    csv_files.write_drop_folder(drop)
    config = csv_files.csv_trust_config(tmp_path, drop)
    orchestration.prepare_warehouse(config_path=str(config))
    sync_stream(config, CSV, "pupils")
    return drop


def csv_sync(drop: Path, stream: str = "attendance") -> dict[str, Any]:
    return sync_stream(drop.parent / "trust.yaml", CSV, stream)


def test_csv_newer_file_corrects_an_older_mark(csv_drop: Path, engine: Engine) -> None:
    rows = csv_files.marks_rows((1, 2, 3), (csv_files.MON,))
    rows[0][-1] = "N"  # pupil 1's Monday morning: no reason yet
    header = csv_files.MARK_HEADER
    csv_files.write_csv(csv_drop / "attendance_wk1.csv", header, rows, when=csv_files.EARLY)
    assert csv_sync(csv_drop)["rows_published"] == 6
    pupil = csv_files.upn(1)
    assert stored_mark(engine, pupil, csv_files.MON, "AM") == ("N", "N")

    # The next day's export carries the reason: illness, for last Monday.
    fixed = [[*rows[0][:-1], "I"]]
    csv_files.write_csv(csv_drop / "attendance_fix.csv", header, fixed, when=csv_files.LATE)
    again = csv_sync(csv_drop)
    assert (again["rows_landed"], again["rows_published"]) == (7, 1)  # wk1 re-read unchanged
    assert stored_mark(engine, pupil, csv_files.MON, "AM") == ("I", "I")
    assert superseded(engine) == [(pupil, csv_files.MON, "AM", "N")]
    assert count(engine, attendance_marks) == 6


def test_csv_mark_for_a_pupil_not_on_the_roll(csv_drop: Path, engine: Engine) -> None:
    rows = csv_files.marks_rows((1, 2, 3, 99), (csv_files.TUE,))  # pupil 99 is on no report
    csv_files.write_csv(
        csv_drop / "attendance_wk2.csv", csv_files.MARK_HEADER, rows, when=csv_files.LATE
    )
    result = csv_sync(csv_drop)
    assert (result["rows_landed"], result["rows_quarantined"]) == (14, 2)
    assert result["rows_published"] == count(engine, attendance_marks) == 12
    assert quarantined(engine, "attendance") == [("pupil_known", "1099")] * 2


@pytest.mark.parametrize("later", [False, True], ids=["copied as is", "saved again later"])
def test_csv_same_rows_in_two_files_publish_once(
    csv_drop: Path, engine: Engine, later: bool
) -> None:
    again = shutil.copy2(csv_drop / "attendance_wk1.csv", csv_drop / "attendance_wk1 (1).csv")
    if later:
        os.utime(again, (csv_files.LATE.timestamp(), csv_files.LATE.timestamp()))
    result = csv_sync(csv_drop)
    assert (result["rows_landed"], result["rows_published"]) == (12, 6)
    assert result["rows_quarantined"] == 0
    assert count(engine, attendance_marks) == 6 and superseded(engine) == []
    assert csv_sync(csv_drop)["rows_published"] == 0


# --- CTF files in a drop folder -------------------------------------------------------------------

CTF = ctf_files.ACADEMY


def ctf_kid(n: int, marks: str = ctf_files.MARKS, **fields: Any) -> ctf_files.Kid:
    """A pupil on roll here since September 2021, with two weeks of this year's registers."""
    year = ctf_files.Year("2025", ctf_files.OWN, ("20", "0", "19", "1"), "2025-09-01", marks)
    return ctf_files.Kid(n, attendance=[year], **fields)


@pytest.fixture
def ctf_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Path:
    """An empty drop folder of the CTF academy, with the warehouse prepared for it."""
    monkeypatch.setenv("TD_CTF_NO_SECRET", "none")
    drop = tmp_path / "drop"
    drop.mkdir()
    orchestration.prepare_warehouse(config_path=str(ctf_files.ctf_trust_config(tmp_path, drop)))
    return drop


def ctf_sync(drop: Path, stream: str) -> dict[str, Any]:
    return sync_stream(drop.parent / "trust.yaml", CTF, stream)


def test_ctf_newer_file_corrects_an_older_mark(ctf_drop: Path, engine: Engine) -> None:
    ctf_files.Ctf([ctf_kid(1), ctf_kid(2)]).write(ctf_drop / "autumn.xml")
    ctf_sync(ctf_drop, "pupils")
    assert ctf_sync(ctf_drop, "attendance")["rows_published"] == 40
    pupil, day = ctf_files.upn(1), date(2025, 9, 9)  # MARKS has N on Tuesday 9th, PM
    assert stored_mark(engine, pupil, day, "PM") == ("N", "N")

    # A later CTF of pupil 1 has the register corrected: illness.
    corrected = ctf_kid(1, marks=ctf_files.MARKS.replace("N", "I"))
    ctf_files.Ctf([corrected]).write(ctf_drop / "spring.xml", when=ctf_files.LATE)
    again = ctf_sync(ctf_drop, "attendance")
    assert again["watermark"] == ctf_files.LATE.isoformat()
    assert stored_mark(engine, pupil, day, "PM") == ("I", "I")
    assert superseded(engine) == [(pupil, day, "PM", "N")]
    assert count(engine, attendance_marks) == 40


def test_ctf_marks_of_a_quarantined_pupil(ctf_drop: Path, engine: Engine) -> None:
    # Pupil 2's UPN has a wrong check letter: the audit keeps them off the roll ...
    kids = [ctf_kid(1), ctf_kid(2, upn="B207000016049")]
    ctf_files.Ctf(kids).write(ctf_drop / "autumn.xml")
    assert ctf_sync(ctf_drop, "pupils")["rows_quarantined"] == 1
    # ... so their marks are for a pupil not on roll: quarantined, and the rest publish.
    result = ctf_sync(ctf_drop, "attendance")
    assert (result["rows_landed"], result["rows_quarantined"]) == (40, 20)
    assert result["rows_published"] == count(engine, attendance_marks) == 20
    assert quarantined(engine, "attendance") == [("pupil_known", "B207000016049")] * 20


def test_ctf_unmapped_code_blocks(ctf_drop: Path, engine: Engine) -> None:
    # H (holiday agreed) was retired on 19 August 2024: not a code in force in 2025.
    ctf_files.Ctf([ctf_kid(1, marks=ctf_files.MARKS.replace("N", "H"))]).write(
        ctf_drop / "autumn.xml"
    )
    ctf_sync(ctf_drop, "pupils")
    landed = orchestration.land_stream(
        academy_id=CTF, stream="attendance", config_path=str(ctf_drop.parent / "trust.yaml")
    )
    with pytest.raises(BatchBlocked, match=r"'H' x 1 .*code_map"):
        orchestration.audit_stream(
            batch_id=landed["batch_id"], config_path=str(ctf_drop.parent / "trust.yaml")
        )
    assert count(engine, attendance_marks) == 0


@pytest.mark.parametrize("later", [False, True], ids=["copied as is", "saved again later"])
def test_ctf_same_file_twice_publishes_once(ctf_drop: Path, engine: Engine, later: bool) -> None:
    first = ctf_files.Ctf([ctf_kid(1), ctf_kid(2)]).write(ctf_drop / "autumn.xml")
    again = shutil.copy2(first, ctf_drop / "autumn (1).xml")
    if later:
        os.utime(again, (ctf_files.LATE.timestamp(), ctf_files.LATE.timestamp()))
    # Each pupil is read from one file only (the newer) ...
    assert ctf_sync(ctf_drop, "pupils")["rows_landed"] == 2
    # ... but marks from every file (an older one may hold another year): they land twice
    # and publish once.
    result = ctf_sync(ctf_drop, "attendance")
    assert (result["rows_landed"], result["rows_published"]) == (80, 40)
    assert count(engine, attendance_marks) == 40 and superseded(engine) == []
