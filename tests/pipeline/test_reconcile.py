"""Reconciliation through the real pipeline and PostgreSQL, against the scripted fake MIS.

A full read of the roll and of the year's marks is compared with what is stored: what the MIS
silently dropped is removed (and kept for audit), what it restored comes back, and a read that
would remove more than the academy's max_removal_share removes nothing and blocks.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.fakes import FakeWonde, deletion, mark, student
from tests.helpers import count, sync_stream
from trustdata.orchestration.reconciliation import academic_year_of, reconcile_academy
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import (
    attendance_marks,
    attendance_marks_superseded,
    batches,
    pupils,
    reconciliations,
    watermarks,
)

ACADEMY = "fakeacademy"
YEAR = "2025-26"
DAYS = (date(2025, 9, 8), date(2025, 9, 9))
PUPILS = 30


@pytest.fixture
def fake(config: str) -> FakeWonde:
    """Thirty pupils with four marks each, synced."""
    fake = FakeWonde(per_page=50)
    fake.students = [student(n) for n in range(1, PUPILS + 1)]
    fake.marks = [
        mark(f"B{n}", day, s, "/" if s == "AM" else "\\")
        for n in range(1, PUPILS + 1)
        for day in DAYS
        for s in ("AM", "PM")
    ]
    for stream in ("pupils", "attendance"):
        sync_stream(config, ACADEMY, stream, fake.transport())
    return fake


def run(fake: FakeWonde, config: str) -> dict[str, Any]:
    return reconcile_academy(
        academy_id=ACADEMY, config_path=config, academic_year=YEAR, transport=fake.transport()
    )


def live_pupils(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(pupils).where(pupils.c.deleted_at.is_(None))
            ).scalar_one()
        )


def drop_pupils(fake: FakeWonde, numbers: set[int]) -> None:
    ids = {f"B{n}" for n in numbers}
    fake.students = [s for s in fake.students if s["id"] not in ids]
    fake.marks = [m for m in fake.marks if m["student"] not in ids]


def test_a_clean_reconciliation_changes_nothing(
    fake: FakeWonde, config: str, engine: Engine
) -> None:
    outcome = run(fake, config)
    assert outcome["pupils"]["status"] == "clean"
    assert (outcome["pupils"]["mis_rows"], outcome["pupils"]["stored_rows"]) == (30, 30)
    assert outcome["attendance"]["status"] == "clean"
    assert (outcome["attendance"]["mis_rows"], outcome["attendance"]["stored_rows"]) == (120, 120)
    assert outcome["attendance"]["missing_in_mis"] == 0
    assert live_pupils(engine) == 30 and count(engine, attendance_marks) == 120


def test_what_the_mis_dropped_silently_is_removed_and_kept_for_audit(
    fake: FakeWonde, config: str, engine: Engine
) -> None:
    drop_pupils(fake, {1, 2})
    fake.marks = [m for m in fake.marks if not (m["student"] == "B3" and "0908" in m["id"])]
    fake.students.append(student(31))
    fake.marks.append(mark("B31", DAYS[0], "AM", "/"))

    outcome = run(fake, config)

    assert outcome["pupils"]["status"] == "applied"
    assert outcome["pupils"]["missing_in_mis"] == 2
    assert outcome["pupils"]["missing_in_warehouse"] == 1
    assert live_pupils(engine) == 29  # 30 - 2 + 1
    marks = outcome["attendance"]
    assert (marks["missing_in_mis"], marks["missing_in_warehouse"]) == (8 + 2, 1)
    assert count(engine, attendance_marks) == 120 - 10 + 1
    assert count(engine, attendance_marks_superseded) == 10
    with engine.connect() as conn:
        removed = conn.execute(
            select(batches.c.stream, batches.c.rows_removed).where(
                batches.c.backfill_from.is_not(None)
            )
        ).all()
    assert [tuple(r) for r in removed] == [("attendance", 10)]

    # The MIS restores a pupil: the next reconciliation brings them back.
    fake.students.append(student(1))
    again = run(fake, config)
    assert again["pupils"]["restored"] == 1 and again["pupils"]["status"] == "applied"
    assert live_pupils(engine) == 30


def test_a_reconciliation_over_the_threshold_removes_nothing(
    fake: FakeWonde, config: str, engine: Engine
) -> None:
    drop_pupils(fake, set(range(1, 16)))  # half the roll: a filtered export, not 15 leavers
    with engine.connect() as conn:
        before = conn.execute(select(watermarks.c.stream, watermarks.c.watermark)).all()

    with pytest.raises(BatchBlocked, match="max_removal_share"):
        run(fake, config)

    assert live_pupils(engine) == 30 and count(engine, attendance_marks) == 120
    with engine.connect() as conn:
        (recorded,) = conn.execute(select(reconciliations)).all()
        after = conn.execute(select(watermarks.c.stream, watermarks.c.watermark)).all()
        blocked = conn.execute(
            select(batches.c.message).where(batches.c.status == "blocked")
        ).scalar_one()
    assert recorded.status == "blocked" and recorded.missing_in_mis == 15
    assert "15 of the academy's 30 stored pupils" in blocked
    assert sorted(after) == sorted(before)


def test_an_emptied_register_is_blocked_not_applied(
    fake: FakeWonde, config: str, engine: Engine
) -> None:
    fake.marks = []
    with pytest.raises(BatchBlocked, match="120 of the academy's 120 stored marks"):
        run(fake, config)
    assert count(engine, attendance_marks) == 120
    assert count(engine, attendance_marks_superseded) == 0


def test_explicit_deletions_of_too_many_pupils_are_blocked(
    fake: FakeWonde, config: str, engine: Engine
) -> None:
    fake.deletions = [deletion(f"B{n}", "2025-09-10 08:00:00") for n in range(1, 16)]
    with pytest.raises(BatchBlocked, match="deletions would delete 15 of academy"):
        sync_stream(config, ACADEMY, "deletions", fake.transport())
    assert live_pupils(engine) == 30
    fake.deletions = fake.deletions[:3]  # a few leavers deleted: normal
    sync_stream(config, ACADEMY, "deletions", fake.transport())
    assert live_pupils(engine) == 27


def test_file_academies_are_not_reconciled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.adapters.test_csv_export import write_drop_folder
    from tests.helpers import one_academy_config

    monkeypatch.setenv("TD_NO_SECRET", "none")
    path = one_academy_config(
        tmp_path,
        academy_id="hazel",
        urn="990960",
        kind="csv",
        options=write_drop_folder(tmp_path / "drop"),
        credential_env="TD_NO_SECRET",
    )
    outcome = reconcile_academy(academy_id="hazel", config_path=str(path))
    assert "explicit deletions only" in outcome["skipped"]


def test_academic_year_of() -> None:
    assert academic_year_of(date(2026, 11, 26)) == "2026-27"
    assert academic_year_of(date(2026, 8, 31)) == "2025-26"
    assert academic_year_of(date(2099, 9, 1)) == "2099-00"
