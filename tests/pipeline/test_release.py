"""Quarantined rows released once their cause is fixed, through the real pipeline and PostgreSQL.

Marks for a pupil the roll did not hold are quarantined (``pupil_known``). The MIS never sends
them again, so they wait; once the roll has the pupil, ``trustdata release`` sends them through
audit and publish. Rows that still fail are quarantined again, with their reason, and nothing is
lost either way.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, func, select

from tests.fakes import FakeWonde, mark, student
from tests.helpers import count, sync_stream
from trustdata.cli import main
from trustdata.warehouse.tables import attendance_marks, batches, quarantine, watermarks

ACADEMY = "fakeacademy"
DAY = date(2025, 9, 8)


def marks_for(*numbers: int) -> list[dict[str, object]]:
    return [
        mark(f"B{n}", DAY, s, "/" if s == "AM" else "\\") for n in numbers for s in ("AM", "PM")
    ]


def waiting(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    quarantine.c.check_name == "pupil_known", quarantine.c.released_at.is_(None)
                )
            ).scalar_one()
        )


def test_marks_for_a_pupil_added_to_the_roll_later_are_released(
    config: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeWonde(students=[student(1)], marks=marks_for(1, 2, 3))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert count(engine, attendance_marks) == 2 and waiting(engine) == 4
    fake.students.append(
        student(2, updated="2025-09-10 08:00:00")
    )  # the MIS adds pupil 2 to the roll; 3 is still missing
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    with engine.connect() as conn:
        positions = conn.execute(select(watermarks)).all()
    assert main(["--config", config, "release", ACADEMY, "--check", "pupil_known"]) == 0
    said = capsys.readouterr().out
    assert "4 rows released" in said and "2 published, 2 quarantined again" in said

    assert count(engine, attendance_marks) == 4
    assert waiting(engine) == 2  # pupil 3's marks, quarantined again under the release batch
    with engine.connect() as conn:
        released = conn.execute(
            select(quarantine.c.released_to).where(quarantine.c.released_at.is_not(None))
        ).scalars()
        (release_batch,) = set(released)
        source = conn.execute(
            select(batches.c.source, batches.c.status).where(batches.c.batch_id == release_batch)
        ).one()
        assert conn.execute(select(watermarks)).all() == positions  # no watermark moved
    assert tuple(source) == ("quarantine", "published")

    fake.students.append(student(3, updated="2025-09-11 08:00:00"))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    assert main(["--config", config, "release", ACADEMY]) == 0
    assert count(engine, attendance_marks) == 6 and waiting(engine) == 0
    assert main(["--config", config, "release", ACADEMY]) == 0
    assert "no quarantined rows are waiting" in capsys.readouterr().out


def test_a_released_mark_never_overwrites_a_newer_stored_one(config: str, engine: Engine) -> None:
    fake = FakeWonde(students=[student(1)], marks=marks_for(2))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())  # both marks quarantined
    fake.students.append(student(2, updated="2025-09-10 08:00:00"))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    # The register was corrected since: the newer mark is read and published first.
    fake.marks = [mark("B2", DAY, "AM", "I", updated="2025-09-20 10:00:00")]
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert main(["--config", config, "release", ACADEMY]) == 0
    with engine.connect() as conn:
        rows = conn.execute(select(attendance_marks.c.session, attendance_marks.c.code))
        codes = dict(rows.tuples().all())
    assert codes == {"AM": "I", "PM": "\\"}


def test_whole_set_streams_are_not_released_row_by_row(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "release", ACADEMY, "--stream", "enrolments"]) == 2
    assert "re-read the academy" in capsys.readouterr().err
    assert main(["--config", config, "release", ACADEMY, "--stream", "nonsense"]) == 2
    assert "no stream 'nonsense'" in capsys.readouterr().err
    assert main(["--config", config, "release", "nowhere"]) == 2
