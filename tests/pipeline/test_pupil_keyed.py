"""Enrolments, characteristic periods, assessment results and attendance summaries through
the real land -> audit -> publish path and PostgreSQL.

The adapter here is a scripted one: a real implementation of the adapter contract whose pages
are given by the test, so each case states exactly what the MIS sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from tests.helpers import count
from tests.scripted import T1, Scripted
from trustdata.adapters.base import (
    Record,
    Stream,
    Window,
)
from trustdata.domain.records import (
    MARK_OBJECT,
    AssessmentResultRecord,
    AttendanceMarkRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)
from trustdata.domain.upn import make_upn
from trustdata.pipeline.audit import audit
from trustdata.pipeline.land import land
from trustdata.pipeline.publish import BatchBlocked, publish
from trustdata.warehouse.tables import (
    assessment_results,
    attendance_marks,
    attendance_summaries,
    batches,
    characteristic_periods,
    enrolments,
    pupils,
    quarantine,
    watermarks,
    whole_sets_landing,
)

ACADEMY = "scripted"
UPN1, UPN2 = make_upn(990, 2001, 15, 1), make_upn(990, 2001, 15, 2)
T2 = datetime(2025, 10, 1, 8, tzinfo=UTC)


def pupil(mis_id: str, upn: str) -> PupilRecord:
    return PupilRecord(mis_id, upn, *([None] * 12), T1)


def sync(
    engine: Engine,
    stream: Stream,
    records: Sequence[Record],
    stamp: datetime | None = T1,
    covers: Sequence[tuple[str, str]] = (),
    max_removal_share: float = 1.0,
) -> Any:
    landed = land(
        engine=engine,
        adapter=Scripted(records, stamp, covers),
        academy_id=ACADEMY,
        stream=stream,
        window=Window(),
    )
    audited = audit(engine=engine, batch_id=landed.batch_id)
    published = publish(
        engine=engine, batch_id=landed.batch_id, max_removal_share=max_removal_share
    )
    return audited, published


def rows(engine: Engine, table: Table, *columns: str) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)))}


def reasons(engine: Engine, batch_id: uuid.UUID) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(quarantine.c.check_name)
                .where(quarantine.c.batch_id == batch_id)
                .order_by(quarantine.c.check_name)
            ).scalars()
        )


@pytest.fixture
def roll(engine: Engine) -> Engine:
    sync(engine, Stream.PUPILS, [pupil("p1", UPN1), pupil("p2", UPN2)])
    return engine


def test_enrolments_are_keyed_by_upn_and_rerun_changes_nothing(roll: Engine) -> None:
    sent = [
        EnrolmentRecord("p1", date(2021, 9, 1), None, "single", T1),
        EnrolmentRecord("p2", date(2022, 9, 1), date(2025, 7, 18), None, T1),
    ]
    audited, published = sync(roll, Stream.ENROLMENTS, sent)
    assert audited.quarantined == 0 and published.rows_published == 2
    assert rows(roll, enrolments, "upn", "start_date", "end_date") == {
        (UPN1, date(2021, 9, 1), None),
        (UPN2, date(2022, 9, 1), date(2025, 7, 18)),
    }
    _, again = sync(roll, Stream.ENROLMENTS, sent)
    assert again.rows_published == 0


def test_a_corrected_start_date_withdraws_the_old_row_and_a_resend_restores_it(
    roll: Engine,
) -> None:
    first = [EnrolmentRecord("p1", date(2021, 9, 1), None, None, T1)]
    sync(roll, Stream.ENROLMENTS, first)
    corrected = [EnrolmentRecord("p1", date(2021, 9, 6), None, None, T2)]
    _, published = sync(roll, Stream.ENROLMENTS, corrected, T2)
    assert published.rows_published == 2  # one withdrawn, one inserted
    stored = rows(roll, enrolments, "start_date", "withdrawn_at")
    assert {(d, w is not None) for d, w in stored} == {
        (date(2021, 9, 1), True),
        (date(2021, 9, 6), False),
    }
    # Another pupil's batch leaves p1's rows alone.
    sync(roll, Stream.ENROLMENTS, [EnrolmentRecord("p2", date(2022, 9, 1), None, None, T2)], T2)
    assert count(roll, enrolments) == 3
    later = datetime(2025, 11, 1, tzinfo=UTC)
    sync(roll, Stream.ENROLMENTS, [first[0]._replace(source_updated_at=later)], later)
    stored = rows(roll, enrolments, "upn", "start_date", "withdrawn_at")
    assert (UPN1, date(2021, 9, 1), None) in stored
    assert any(d == date(2021, 9, 6) and w is not None for u, d, w in stored if u == UPN1)


def test_periods_are_replaced_per_characteristic_only(roll: Engine) -> None:
    sync(
        roll,
        Stream.CHARACTERISTICS,
        [
            CharacteristicPeriodRecord("p1", "fsm", date(2019, 1, 7), date(2020, 3, 31), T1),
            CharacteristicPeriodRecord("p1", "cla", date(2023, 5, 2), None, T1),
        ],
    )
    # The MIS now sends p1's FSM history alone: a corrected end date; care is not resent.
    sync(
        roll,
        Stream.CHARACTERISTICS,
        [CharacteristicPeriodRecord("p1", "fsm", date(2019, 1, 7), date(2020, 4, 30), T2)],
        T2,
    )
    assert rows(roll, characteristic_periods, "characteristic", "end_date", "withdrawn_at") == {
        ("fsm", date(2020, 4, 30), None),
        ("cla", None, None),
    }


def test_a_set_covered_but_now_empty_is_withdrawn(roll: Engine) -> None:
    sync(
        roll,
        Stream.CHARACTERISTICS,
        [
            CharacteristicPeriodRecord("p1", "fsm", date(2019, 1, 7), None, T1),
            CharacteristicPeriodRecord("p1", "cla", date(2023, 5, 2), None, T1),
            CharacteristicPeriodRecord("p2", "fsm", date(2020, 1, 6), None, T1),
        ],
    )
    # p1's FSM history is now empty; p2 is not covered, so p2's periods stay as stored.
    _, published = sync(roll, Stream.CHARACTERISTICS, [], T2, covers=[("p1", "fsm")])
    assert published.rows_published == 1
    assert rows(roll, characteristic_periods, "upn", "characteristic", "withdrawn_at") == {
        (UPN1, "fsm", published_withdrawn(roll)),
        (UPN1, "cla", None),
        (UPN2, "fsm", None),
    }
    with roll.connect() as conn:
        assert conn.execute(select(whole_sets_landing.c.batch_id)).first() is None


def published_withdrawn(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(
            select(characteristic_periods.c.withdrawn_at).where(
                characteristic_periods.c.withdrawn_at.is_not(None)
            )
        ).scalar_one()


def test_bad_periods_are_quarantined_with_reasons(roll: Engine) -> None:
    audited, published = sync(
        roll,
        Stream.CHARACTERISTICS,
        [
            CharacteristicPeriodRecord("p1", "fsm", date(2020, 1, 1), date(2019, 1, 1), T1),
            CharacteristicPeriodRecord("p2", "pupil_premium", date(2020, 1, 1), None, T1),
            CharacteristicPeriodRecord("p9", "fsm", date(2020, 1, 1), None, T1),
            CharacteristicPeriodRecord("p2", "service_child", date(2020, 1, 1), None, T1),
        ],
    )
    assert reasons(roll, audited.batch_id) == [
        "characteristic_known",
        "period_ordered",
        "pupil_known",
    ]
    assert published.rows_published == 1
    assert rows(roll, characteristic_periods, "upn", "characteristic") == {(UPN2, "service_child")}


def test_assessment_results_are_checked_and_upserted(roll: Engine) -> None:
    def result(pupil_id: str, stage: str, subject: str, method: str, value: str) -> Record:
        return AssessmentResultRecord(pupil_id, stage, 2025, subject, method, "", value, T1)

    audited, published = sync(
        roll,
        Stream.ASSESSMENTS,
        [
            result("p1", "KS2", "REA", "TT", "104"),
            result("p1", "KS2", "MAT", "TT", "79"),
            result("p2", "KS2", "REA", "TT", "A"),
            result("p2", "KS2", "WRI", "TA", "EXS"),
            result("p1", "KS4", "MAT", "EX", "7"),
            result("p2", "KS4", "MAT", "EX", "10"),
        ],
    )
    assert reasons(roll, audited.batch_id) == ["gcse_grade_valid", "ks2_test_result_valid"]
    assert published.rows_published == 4
    regraded = AssessmentResultRecord("p1", "KS4", 2025, "MAT", "EX", "", "8", T2)
    _, again = sync(roll, Stream.ASSESSMENTS, [regraded], T2)
    assert again.rows_published == 1
    assert (UPN1, "MAT", "8") in rows(roll, assessment_results, "upn", "subject", "result")


def test_attendance_summaries_that_do_not_add_up_are_quarantined(roll: Engine) -> None:
    audited, published = sync(
        roll,
        Stream.ATTENDANCE_SUMMARIES,
        [
            AttendanceSummaryRecord("p1", 2024, "9902001", 380, 10, 360, 10, T1),
            AttendanceSummaryRecord("p1", 2023, "8881234", 300, 0, 290, 4, T1),
            AttendanceSummaryRecord("p2", 2024, "9902001", 100, 10, 95, 10, T1),
        ],
    )
    assert reasons(roll, audited.batch_id) == ["sessions_consistent"]
    assert published.rows_published == 2
    assert rows(roll, attendance_summaries, "upn", "school_laestab") == {
        (UPN1, "9902001"),
        (UPN1, "8881234"),
    }


def test_a_quarantined_row_does_not_withdraw_its_stored_version(roll: Engine) -> None:
    sync(
        roll,
        Stream.CHARACTERISTICS,
        [
            CharacteristicPeriodRecord("p1", "fsm", date(2020, 1, 6), date(2020, 7, 20), T1),
            CharacteristicPeriodRecord("p1", "fsm", date(2024, 1, 8), None, T1),
        ],
    )
    # The MIS now sends the open 2024 period with its end before its start: quarantined. The
    # set is not whole any more, so the stored open period stays current.
    audited, _ = sync(
        roll,
        Stream.CHARACTERISTICS,
        [
            CharacteristicPeriodRecord("p1", "fsm", date(2020, 1, 6), date(2020, 7, 20), T2),
            CharacteristicPeriodRecord("p1", "fsm", date(2024, 1, 8), date(2023, 1, 1), T2),
        ],
        T2,
        covers=[("p1", "fsm")],
    )
    assert reasons(roll, audited.batch_id) == ["period_ordered"]
    assert rows(roll, characteristic_periods, "start_date", "end_date", "withdrawn_at") == {
        (date(2020, 1, 6), date(2020, 7, 20), None),
        (date(2024, 1, 8), None, None),
    }


def test_a_batch_that_would_withdraw_too_much_is_blocked(engine: Engine) -> None:
    ids = [f"p{n}" for n in range(1, 41)]
    sync(engine, Stream.PUPILS, [pupil(i, make_upn(990, 2001, 15, n)) for n, i in enumerate(ids)])
    periods = [CharacteristicPeriodRecord(i, "fsm", date(2021, 9, 1), None, T1) for i in ids]
    sync(engine, Stream.CHARACTERISTICS, periods, max_removal_share=0.2)
    # An emptied FSM list (lost permissions, a report saved half-way): every set covered empty.
    with pytest.raises(BatchBlocked, match=r"withdraw 40 of the academy's 40 stored"):
        sync(
            engine,
            Stream.CHARACTERISTICS,
            [],
            T2,
            covers=[(i, "fsm") for i in ids],
            max_removal_share=0.2,
        )
    assert rows(engine, characteristic_periods, "withdrawn_at") == {(None,)}
    with engine.connect() as conn:
        status, message = conn.execute(
            select(batches.c.status, batches.c.message)
            .where(batches.c.stream == "characteristics")
            .order_by(batches.c.started_at.desc())
        ).first()
        cursor = conn.execute(
            select(watermarks.c.watermark).where(watermarks.c.stream == "characteristics")
        ).scalar_one()
    assert status == "blocked" and "max_removal_share" in message
    assert cursor == T1  # the watermark did not move past the blocked batch
    # A handful of withdrawals is a correction, whatever the share.
    _, published = sync(
        engine,
        Stream.CHARACTERISTICS,
        periods[3:],
        T2,
        covers=[(i, "fsm") for i in ids],
        max_removal_share=0.01,
    )
    assert published.rows_published == 3


def test_a_mis_id_on_two_pupil_rows_publishes_under_the_current_upn(engine: Engine) -> None:
    # The MIS corrected p1's UPN: raw.pupils keeps the old row (UPN2) beside the new (UPN1).
    sync(engine, Stream.PUPILS, [pupil("p1", UPN2)])
    sync(engine, Stream.PUPILS, [pupil("p1", UPN1)._replace(source_updated_at=T2)], T2)
    assert rows(engine, pupils, "upn", "mis_id") == {(UPN1, "p1"), (UPN2, "p1")}
    sync(engine, Stream.ENROLMENTS, [EnrolmentRecord("p1", date(2021, 9, 1), None, None, T2)], T2)
    assert rows(engine, enrolments, "upn") == {(UPN1,)}


def test_rows_without_timestamps_are_current(roll: Engine) -> None:
    """A change-log source stamps nothing: its rows replace and restore stamped ones."""
    stamped = CharacteristicPeriodRecord("p1", "fsm", date(2024, 1, 8), None, T2)
    sync(roll, Stream.CHARACTERISTICS, [stamped], T2)
    ended = stamped._replace(end_date=date(2025, 3, 31), source_updated_at=None)
    _, published = sync(roll, Stream.CHARACTERISTICS, [ended], None)
    assert published.rows_published == 1
    assert rows(roll, characteristic_periods, "end_date") == {(date(2025, 3, 31),)}


def test_a_mark_deleted_before_its_read_published_is_quarantined(roll: Engine) -> None:
    monday = date(2025, 9, 8)
    marks = [
        AttendanceMarkRecord("m1", "p1", monday, "AM", "/", T1),
        AttendanceMarkRecord("m2", "p1", monday, "PM", "N", T1),
    ]
    landed = land(
        engine=roll,
        adapter=Scripted(marks),
        academy_id=ACADEMY,
        stream=Stream.ATTENDANCE,
        window=Window(),
    )
    # Meanwhile the MIS deleted the PM mark, and the deletions batch published first.
    sync(roll, Stream.DELETIONS, [DeletionRecord(MARK_OBJECT, "m2", None)])
    audited = audit(engine=roll, batch_id=landed.batch_id)
    publish(engine=roll, batch_id=landed.batch_id)
    assert reasons(roll, audited.batch_id) == ["mark_not_deleted"]
    assert rows(roll, attendance_marks, "mis_mark_id") == {("m1",)}


def test_a_database_error_while_landing_names_no_row_data(roll: Engine) -> None:
    # PostgreSQL's CONTEXT quotes the failing value ("column nc_year: 99999"): left out.
    secret = "99999"
    bad = pupil("p3", make_upn(990, 2001, 15, 3))._replace(nc_year=int(secret))
    with pytest.raises(
        RuntimeError, match=r"landing failed: NumericValueOutOfRange \(SQLSTATE 22003\)"
    ):
        land(
            engine=roll,
            adapter=Scripted([bad]),
            academy_id=ACADEMY,
            stream=Stream.PUPILS,
            window=Window(),
        )
    with roll.connect() as conn:
        message = conn.execute(
            select(batches.c.message).where(batches.c.status == "failed")
        ).scalar_one()
    assert secret not in message


def test_covers_on_a_stream_not_sent_whole_fail_the_landing(roll: Engine) -> None:
    result = AssessmentResultRecord("p1", "KS2", 2025, "MAT", "TT", "", "104", T1)
    with pytest.raises(ValueError, match="only streams sent whole"):
        land(
            engine=roll,
            adapter=Scripted([result], covers=[("p1", "")]),
            academy_id=ACADEMY,
            stream=Stream.ASSESSMENTS,
            window=Window(),
        )
