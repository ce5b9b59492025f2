"""Edge cases of land -> audit -> publish, through the real pipeline and PostgreSQL.

The MIS is the scripted fake behind an injected transport (the MIS is outside the machine).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.fakes import TOKEN, FakeWonde, deletion, fake_trust_config, mark, student
from tests.helpers import batch_tables, count, staged_marks, sync_stream
from trustdata import orchestration
from trustdata.adapters.base import AdapterError
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    batches,
    pupils,
    quarantine,
    watermarks,
)

ACADEMY = "fakeacademy"
MON, TUE = date(2025, 9, 8), date(2025, 9, 9)


def sync(fake: FakeWonde, config: str, stream: str) -> dict[str, Any]:
    return sync_stream(config, ACADEMY, stream, fake.transport())


def two_pupils() -> FakeWonde:
    fake = FakeWonde(students=[student(1, fsm6=True), student(2)])
    fake.marks = [
        mark(f"B{n}", day, s, "/" if s == "AM" else "\\")
        for n in (1, 2)
        for day in (MON, TUE)
        for s in ("AM", "PM")
    ]
    return fake


def test_sync_then_rerun_changes_nothing(config: str, engine: Engine) -> None:
    fake = two_pupils()
    assert sync(fake, config, "pupils")["rows_published"] == 2
    first = sync(fake, config, "attendance")
    assert first["rows_landed"] == 8 and first["rows_published"] == 8
    again = sync(fake, config, "attendance")
    # The re-run reads the look-back window again and changes nothing.
    assert again["updated_after"] is not None
    assert again["rows_published"] == 0
    assert count(engine, attendance_marks) == 8
    assert staged_marks(engine) == 0
    assert batch_tables(engine) == []  # each publish dropped its batch's own table
    with engine.connect() as conn:
        stored = conn.execute(
            select(watermarks.c.watermark).where(watermarks.c.stream == "attendance")
        ).scalar_one()
    assert stored.isoformat() == "2025-09-09T13:35:00+00:00"


def test_marks_are_keyed_by_upn_not_mis_id(config: str, engine: Engine) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    sync(fake, config, "attendance")
    with engine.connect() as conn:
        upns = set(conn.execute(select(attendance_marks.c.upn).distinct()).scalars())
        roll = set(conn.execute(select(pupils.c.upn)).scalars())
    assert upns == roll and all(len(u) == 13 for u in upns)


def test_unmapped_code_blocks_the_batch_and_keeps_the_watermark(
    config: str, engine: Engine
) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    fake.marks[0] = mark("B1", MON, "AM", "I9")
    fake.marks[1] = mark("B1", MON, "PM", "I9")
    landed = orchestration.land_stream(
        academy_id=ACADEMY, stream="attendance", config_path=config, transport=fake.transport()
    )
    with pytest.raises(BatchBlocked, match=r"'I9' x 2 .*code_map"):
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
    with pytest.raises(BatchBlocked):
        orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config)
    assert count(engine, attendance_marks) == 0
    with engine.connect() as conn:
        assert (
            conn.execute(select(watermarks).where(watermarks.c.stream == "attendance")).first()
            is None
        )
        reasons = conn.execute(select(quarantine.c.check_name, quarantine.c.severity)).all()
    assert reasons == [("code_valid_on_date", "error")] * 2


def test_code_map_maps_mis_sub_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setenv("TD_FAKE_TOKEN", TOKEN)
    path = fake_trust_config(tmp_path, code_map={"I9": "I"})
    orchestration.prepare_warehouse(config_path=path)
    fake = two_pupils()
    fake.marks[0] = mark("B1", MON, "AM", "I9")
    sync(fake, path, "pupils")
    assert sync(fake, path, "attendance")["rows_published"] == 8
    with engine.connect() as conn:
        row = conn.execute(
            select(attendance_marks.c.code, attendance_marks.c.source_code).where(
                attendance_marks.c.source_code == "I9"
            )
        ).one()
    assert tuple(row) == ("I", "I9")


def test_retired_code_after_2024_is_not_valid(config: str, engine: Engine) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    fake.marks[0] = mark("B1", MON, "AM", "H")  # holiday code retired 19 Aug 2024
    landed = orchestration.land_stream(
        academy_id=ACADEMY, stream="attendance", config_path=config, transport=fake.transport()
    )
    with pytest.raises(BatchBlocked, match=r"'H' x 1"):
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)


def test_mark_for_unknown_pupil_is_quarantined_and_the_rest_publish(
    config: str, engine: Engine
) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    fake.marks.append(mark("B99", MON, "AM", "/"))
    result = sync(fake, config, "attendance")
    assert result["rows_quarantined"] == 1 and result["rows_published"] == 8
    with engine.connect() as conn:
        check, record = conn.execute(select(quarantine.c.check_name, quarantine.c.record)).one()
    assert check == "pupil_known" and record["mis_pupil_id"] == "B99"


def test_invalid_upn_is_quarantined(config: str, engine: Engine) -> None:
    fake = FakeWonde(students=[student(1), student(2, upn="B207000016049"), student(3, upn="")])
    result = sync(fake, config, "pupils")
    assert result["rows_published"] == 1 and result["rows_quarantined"] == 2


def test_empty_roll_is_blocked(config: str, engine: Engine) -> None:
    landed = orchestration.land_stream(
        academy_id=ACADEMY, stream="pupils", config_path=config, transport=FakeWonde().transport()
    )
    with pytest.raises(BatchBlocked, match="no pupils"):
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)


def test_incremental_pull_with_no_changes_publishes_nothing(config: str, engine: Engine) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    again = sync(fake, config, "pupils")
    assert again["updated_after"] is not None
    assert (again["rows_landed"], again["status"], again["rows_published"]) == (0, "published", 0)
    assert count(engine, pupils) == 2


def test_failure_mid_extract_leaves_nothing_half_landed(config: str, engine: Engine) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    fake.fail_on_page = 2
    with pytest.raises(AdapterError, match="not valid JSON"):
        orchestration.land_stream(
            academy_id=ACADEMY, stream="attendance", config_path=config, transport=fake.transport()
        )
    assert staged_marks(engine) == 0
    with engine.connect() as conn:
        status = conn.execute(
            select(batches.c.status).where(batches.c.stream == "attendance")
        ).scalar_one()
    assert status == "failed"
    fake.fail_on_page = None
    assert sync(fake, config, "attendance")["rows_published"] == 8


def test_back_dated_correction_replaces_the_mark_and_keeps_the_old_one(
    config: str, engine: Engine
) -> None:
    fake = two_pupils()
    fake.marks[0] = mark("B1", MON, "AM", "N")
    sync(fake, config, "pupils")
    sync(fake, config, "attendance")
    # Three days later the office records the reason: illness. Inside the 7-day look-back.
    fake.marks[0] = mark("B1", MON, "AM", "I", updated="2025-09-11 10:00:00")
    result = sync(fake, config, "attendance")
    assert result["rows_published"] == 1
    with engine.connect() as conn:
        current = (
            conn.execute(
                select(attendance_marks.c.code).where(
                    attendance_marks.c.mark_date == MON,
                    attendance_marks.c.session == "AM",
                    attendance_marks.c.source_code.in_(["I", "N"]),
                )
            )
            .scalars()
            .all()
        )
        old = conn.execute(select(attendance_marks_superseded.c.code)).scalars().all()
    assert current == ["I"] and old == ["N"]


def test_wrong_token_is_a_clear_error(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TD_FAKE_TOKEN", "wrong")
    with pytest.raises(AdapterError, match="HTTP 401: the MIS rejected the credential") as caught:
        orchestration.land_stream(
            academy_id=ACADEMY,
            stream="pupils",
            config_path=config,
            transport=two_pupils().transport(),
        )
    assert "wrong" not in str(caught.value)


def test_explicit_deletion_hides_the_pupil_and_a_restore_brings_them_back(
    config: str, engine: Engine
) -> None:
    fake = two_pupils()
    sync(fake, config, "pupils")
    sync(fake, config, "attendance")
    fake.deletions = [deletion("B2", "2025-09-10 12:00:00")]
    assert sync(fake, config, "deletions")["rows_published"] == 2  # recorded + applied
    with engine.connect() as conn:
        states = dict(conn.execute(select(pupils.c.mis_id, pupils.c.deleted_at.is_not(None))).all())
    assert states == {"B1": False, "B2": True}
    assert count(engine, attendance_marks) == 8  # nothing is removed from raw
    # Re-running the deletions sync changes nothing.
    assert sync(fake, config, "deletions")["rows_published"] == 0
    # The MIS restores the pupil: a newer record than the deletion.
    fake.students[1] = student(2, updated="2025-09-12 08:00:00")
    sync(fake, config, "pupils")
    with engine.connect() as conn:
        assert (
            conn.execute(select(pupils.c.deleted_at).where(pupils.c.mis_id == "B2")).scalar_one()
            is None
        )


def test_deletion_arriving_before_the_pupil_is_still_applied(config: str, engine: Engine) -> None:
    fake = two_pupils()
    fake.deletions = [deletion("B2", "2025-09-10 12:00:00")]
    sync(fake, config, "deletions")
    sync(fake, config, "pupils")
    with engine.connect() as conn:
        deleted = (
            conn.execute(select(pupils.c.mis_id).where(pupils.c.deleted_at.is_not(None)))
            .scalars()
            .all()
        )
    assert deleted == ["B2"]


def test_academy_changing_mis_keeps_one_identity_and_full_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setenv("TD_FAKE_TOKEN", TOKEN)
    old_config = fake_trust_config(tmp_path)
    orchestration.prepare_warehouse(config_path=old_config)
    old = two_pupils()
    sync(old, old_config, "pupils")
    sync(old, old_config, "attendance")
    # The academy moves to a new MIS: new school id, new MIS ids for the same pupils (same
    # UPNs), and only this week's marks, recorded before the old watermark.
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new_config = new_dir / "trust.yaml"
    text = Path(old_config).read_text().replace("school_id: A900", "school_id: A901")
    new_config.write_text(text)
    new = FakeWonde(students=[student(n) for n in (1, 2)], school="A901")
    for record in new.students:
        record["id"] = "X" + record["id"]
    later = date(2025, 9, 15)
    new.marks = [mark(f"XB{n}", later, "AM", "/", updated="2025-09-01 10:00:00") for n in (1, 2)]
    result = sync(new, str(new_config), "pupils")
    assert result["updated_after"] is None  # a new source starts with a full pull
    marks = sync(new, str(new_config), "attendance")
    assert marks["updated_after"] is None and marks["rows_published"] == 2
    with engine.connect() as conn:
        roll = conn.execute(select(pupils.c.upn, pupils.c.mis_id)).all()
        per_pupil = dict(
            conn.execute(
                select(attendance_marks.c.upn, func.count()).group_by(attendance_marks.c.upn)
            ).all()
        )
    assert len(roll) == 2 and {mis for _, mis in roll} == {"XB1", "XB2"}
    assert sorted(per_pupil.values()) == [5, 5]  # 4 old marks + 1 new, one identity each


def test_no_pupil_data_or_token_in_logs_or_summaries(
    config: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    fake = two_pupils()
    fake.students.append(student(3, upn="B207000016049"))  # quarantined: its UPN is in no log
    fake.marks.append(mark("B99", MON, "AM", "/"))
    caplog.set_level("DEBUG")
    summaries = [sync(fake, config, stream) for stream in ("pupils", "attendance", "deletions")]
    secrets = [TOKEN, "B207000016049"] + [
        s["education_details"]["data"]["upn"] for s in fake.students
    ]
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(summaries)
    assert caplog.records  # something was logged, and none of it is personal
    for secret in secrets:
        assert secret not in text
