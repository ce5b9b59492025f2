"""Each defect the suites in expectations/ look for, fed through land -> audit -> publish with
Great Expectations against PostgreSQL: blocked or warned, rows quarantined with the check and
its reason, the watermark unchanged on a block, and nothing lost once the defect is fixed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from tests.helpers import count
from tests.scripted import T1, Scripted
from trustdata.adapters.base import Record, Stream, Window
from trustdata.cli import main
from trustdata.config.trust import Academy, QualityRules
from trustdata.domain.records import (
    CHARACTERISTICS,
    MARK_OBJECT,
    PUPIL_OBJECT,
    REGISTRATIONS,
    AssessmentResultRecord,
    AttendanceMarkRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
    PupilRecord,
)
from trustdata.domain.upn import CHECK_ALPHABET, is_valid_upn, make_upn
from trustdata.pipeline.audit import AuditResult, audit
from trustdata.pipeline.land import land
from trustdata.pipeline.publish import BatchBlocked, publish
from trustdata.pipeline.release import release
from trustdata.quality.docs import build_data_docs
from trustdata.quality.suites import SuiteError, check_names, load_suite, suites
from trustdata.warehouse.tables import (
    assessment_results,
    attendance_marks,
    attendance_summaries,
    batches,
    characteristic_periods,
    pupils,
    quarantine,
    validation_checks,
    validations,
    watermarks,
)

ACADEMY = "scripted"
TODAY = date(2025, 10, 1)  # a Wednesday in the 2025-26 academic year
LATER = datetime(2025, 9, 20, 8, tzinfo=UTC)
UPNS = [make_upn(990, 2001, 15, n) for n in range(1, 30)]


def academy(**rules: Any) -> Academy:
    return Academy.model_validate(
        {
            "id": ACADEMY,
            "urn": "990001",
            "name": "Scripted Primary",
            "phase": "primary",
            "hub": "north",
            "adapter": {"kind": "scripted", "credential": {"env": "UNUSED"}},
            "quality": rules,
        }
    )


def pupil(
    mis_id: str,
    upn: str | None,
    *,
    born: date | None = date(2017, 3, 1),
    admitted: date | None = date(2024, 9, 2),
    left: date | None = None,
) -> PupilRecord:
    blank: list[Any] = [None] * 13
    return PupilRecord(mis_id, upn, *blank)._replace(
        date_of_birth=born, admission_date=admitted, leaving_date=left, source_updated_at=T1
    )


def run(
    engine: Engine,
    stream: Stream,
    records: Sequence[Record],
    *,
    window: Window | None = None,
    rules: dict[str, Any] | None = None,
    stamp: datetime = T1,
) -> tuple[AuditResult, Any]:
    """Land, audit and publish one batch; the publish is skipped (None) when blocked."""
    landed = land(
        engine=engine,
        adapter=Scripted(records, stamp),
        academy_id=ACADEMY,
        stream=stream,
        window=window or Window(),
    )
    audited = audit(
        engine=engine, batch_id=landed.batch_id, academy=academy(**(rules or {})), today=TODAY
    )
    if audited.blocked:
        with pytest.raises(BatchBlocked):
            publish(engine=engine, batch_id=landed.batch_id, max_removal_share=1.0)
        return audited, None
    return audited, publish(engine=engine, batch_id=landed.batch_id, max_removal_share=1.0)


def held(engine: Engine, stream: Stream) -> dict[str, tuple[str, int]]:
    """{check: (severity, rows)} of the stream's quarantined rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.check_name, quarantine.c.severity, func.count())
            .where(quarantine.c.stream == stream.value)
            .group_by(quarantine.c.check_name, quarantine.c.severity)
        ).all()
    return {check: (severity, n) for check, severity, n in rows}


def failed_checks(engine: Engine, batch_id: Any) -> dict[str, int | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(validation_checks.c.check_name, validation_checks.c.unexpected_count).where(
                validation_checks.c.batch_id == batch_id, ~validation_checks.c.success
            )
        ).all()
    return dict(rows)


def watermark(engine: Engine, stream: Stream) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(watermarks.c.watermark).where(watermarks.c.stream == stream.value)
        ).scalar_one_or_none()


ROLL = [pupil("P1", UPNS[0]), pupil("P2", UPNS[1], left=date(2025, 9, 30))]


def test_pupil_defects_are_quarantined_and_the_rest_published(engine: Engine) -> None:
    bad_letter = "A" + UPNS[2][1:] if UPNS[2][0] != "A" else "B" + UPNS[2][1:]
    records = [
        *ROLL,
        pupil("P3", bad_letter),
        pupil("P4", None),
        pupil("P5", UPNS[5]),
        pupil("P6", UPNS[5]),  # two MIS pupils, one UPN
        pupil("P7", UPNS[7]),
        pupil("P7", UPNS[8]),  # one MIS pupil sent twice, with two UPNs
        pupil("P9", UPNS[9], born=date(1990, 1, 1)),  # not of primary age
    ]
    audited, published = run(engine, Stream.PUPILS, records)
    assert audited.status == "audited" and published.rows_published == 2
    assert held(engine, Stream.PUPILS) == {
        "upn_valid": ("warn", 2),
        "upn_unique": ("warn", 2),
        "pupil_one_upn": ("warn", 2),
        "date_of_birth_plausible": ("warn", 1),
    }
    assert failed_checks(engine, audited.batch_id) == {
        "upn_valid": 2,
        "upn_unique": 2,
        "pupil_one_upn": 2,
        "date_of_birth_plausible": 1,
    }
    assert any("UPN missing, badly formed" in p for p in audited.problems)
    with engine.connect() as conn:
        stored = json.dumps(conn.execute(select(validations.c.result)).scalar_one())
    # GX's result is kept for Data Docs with counts only: no UPN of the batch is in it.
    assert not any(upn in stored for upn in (*UPNS[:10], bad_letter))


def test_a_changed_upn_is_reported_and_published(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    renumbered = [ROLL[0], pupil("P2", UPNS[20])]
    audited, published = run(engine, Stream.PUPILS, renumbered, stamp=LATER)
    assert audited.status == "audited" and audited.quarantined == 0
    assert failed_checks(engine, audited.batch_id) == {"upn_changed": 1}
    assert any("warn: 1 upn_changed" in p for p in audited.problems)
    assert published.status == "published" and count(engine, pupils) == 3


def test_a_roll_that_shrinks_sharply_is_blocked_until_it_is_whole_again(engine: Engine) -> None:
    whole = [pupil(f"P{n}", UPNS[n]) for n in range(10)]
    run(engine, Stream.PUPILS, whole)
    before = watermark(engine, Stream.PUPILS)
    audited, _ = run(engine, Stream.PUPILS, whole[:4], stamp=LATER)
    assert audited.blocked and any("roll_not_shrunk" in p for p in audited.problems)
    assert watermark(engine, Stream.PUPILS) == before and count(engine, pupils) == 10
    # An academy that expects such swings says so in its rules.
    audited, published = run(
        engine, Stream.PUPILS, whole[:4], stamp=LATER, rules={"max_shrink": 0.7}
    )
    assert not audited.blocked and published.status == "published"


def test_an_empty_roll_is_blocked(engine: Engine) -> None:
    audited, _ = run(engine, Stream.PUPILS, [])
    assert audited.blocked and any("no pupils" in p for p in audited.problems)
    assert watermark(engine, Stream.PUPILS) is None


def marks_for(mis_id: str, day: date, codes: tuple[str, str] = ("/", "\\")) -> list[Record]:
    return [
        AttendanceMarkRecord(f"{mis_id}-{day}-{s}", mis_id, day, s, code, T1)
        for s, code in zip(("AM", "PM"), codes, strict=True)
    ]


def test_attendance_defects_are_quarantined_with_reasons(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    mon, tue, wed = date(2025, 9, 15), date(2025, 9, 16), date(2025, 9, 17)
    records: list[Record] = [
        *marks_for("P1", mon),
        *marks_for("P2", mon),
        *marks_for("P1", tue),
        *marks_for("P2", tue),
        AttendanceMarkRecord("x1", "P1", wed, "EVE", "/", T1),  # session_am_pm
        AttendanceMarkRecord("x2", "P1", date(2025, 10, 6), "AM", "/", T1),  # the future
        AttendanceMarkRecord("x3", "P1", date(2025, 6, 2), "AM", "/", T1),  # last year
        AttendanceMarkRecord("x4", "P1", date(2025, 9, 20), "AM", "/", T1),  # a Saturday
        AttendanceMarkRecord("x5", "P1", date(2025, 9, 19), "AM", "/", T1),  # closed (INSET)
        AttendanceMarkRecord("x6", "P2", date(2025, 9, 19), "AM", "#", T1),  # closed: fine
        AttendanceMarkRecord("x7", "P1", date(2025, 9, 18), "AM", "/", T1),
        AttendanceMarkRecord("x8", "P1", date(2025, 9, 18), "AM", "N", T1),  # which one?
        AttendanceMarkRecord("x9", "P9", mon, "AM", "/", T1),  # not on the roll
        AttendanceMarkRecord("xa", "P2", TODAY, "AM", "/", T1),  # P2 left on 30 September
    ]
    incremental = Window(updated_after=datetime(2025, 9, 14, tzinfo=UTC))
    audited, published = run(
        engine,
        Stream.ATTENDANCE,
        records,
        window=incremental,
        rules={"closed_dates": ["2025-09-19"], "min_completeness": 0.9},
    )
    assert audited.status == "audited"
    assert held(engine, Stream.ATTENDANCE) == {
        "session_am_pm": ("warn", 1),
        "mark_not_in_future": ("warn", 1),
        "mark_date_in_year": ("warn", 1),
        "mark_on_open_day": ("warn", 2),
        "one_mark_per_session": ("warn", 2),
        "pupil_known": ("warn", 1),
        "pupil_enrolled_on_date": ("warn", 1),
    }
    # The two good days and the closure mark publish.
    assert published.rows_published == 9 and count(engine, attendance_marks) == 9
    # Days short of marks, judged on what the MIS sent: 17 and 18 September, 1 October (P2
    # had left: 1 of 2), 2 June and 6 October; not the closure day.
    failed = failed_checks(engine, audited.batch_id)
    assert failed["register_complete"] == 5
    assert any("register_complete" in p for p in audited.problems)
    with engine.connect() as conn:
        status = conn.execute(
            select(batches.c.status).where(batches.c.batch_id == audited.batch_id)
        ).scalar_one()
    assert status == "published"


def test_a_full_read_is_judged_on_enrolment_spells_and_distinct_marks(engine: Engine) -> None:
    # P2 has two spells with a gap (17 September): only the marks in the gap are held. P9 is
    # not on the roll: pupil_known holds its marks, not the enrolment check.
    run(engine, Stream.PUPILS, ROLL)
    spells = [
        EnrolmentRecord("P2", date(2025, 9, 1), date(2025, 9, 16), "single", T1),
        EnrolmentRecord("P2", date(2025, 9, 18), None, "single", T1),
    ]
    run(engine, Stream.ENROLMENTS, spells)
    days = [date(2025, 9, d) for d in (15, 16, 17, 18)]
    records: list[Record] = [
        m for day in days for mis_id in ("P1", "P2") for m in marks_for(mis_id, day)
    ]
    records += marks_for("P9", days[0])
    # Friday 19th: P1's morning mark sent three times, nothing else. Counted once, it is 1 of
    # the 4 marks the roll expects, short of half; counted thrice it would pass.
    records += [
        AttendanceMarkRecord(f"r{n}", "P1", date(2025, 9, 19), "AM", "/", T1) for n in range(3)
    ]
    audited, published = run(
        engine, Stream.ATTENDANCE, records, window=Window(), rules={"min_completeness": 0.5}
    )
    assert held(engine, Stream.ATTENDANCE) == {
        "pupil_enrolled_on_date": ("warn", 2),
        "pupil_known": ("warn", 2),
    }
    # The 17th has P1's two marks and P2's, against the 2 expected of P1 alone: complete.
    assert failed_checks(engine, audited.batch_id) == {
        "pupil_enrolled_on_date": 2,
        "pupil_known": 2,
        "register_complete": 1,
    }
    assert published.rows_published == 15


def test_a_pupil_with_overlapping_spells_is_expected_once_a_day(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    spells = [
        EnrolmentRecord("P2", date(2025, 9, 1), date(2025, 9, 30), "main", T1),
        EnrolmentRecord("P2", date(2025, 9, 10), None, "subsidiary", T1),
    ]
    run(engine, Stream.ENROLMENTS, spells)
    mon, tue = date(2025, 9, 15), date(2025, 9, 16)
    records = [*marks_for("P1", mon), *marks_for("P2", mon), *marks_for("P1", tue)]
    records.append(AttendanceMarkRecord("t", "P2", tue, "AM", "/", T1))
    # 4 marks expected a day (P1 and P2 once each): Monday's 4 pass, Tuesday's 3 fall short
    # of 80%. Counting P2 once a spell would expect 6 and fail Monday too.
    audited, _ = run(
        engine, Stream.ATTENDANCE, records, window=Window(), rules={"min_completeness": 0.8}
    )
    assert failed_checks(engine, audited.batch_id) == {"register_complete": 1}


def test_only_a_session_whose_latest_marks_disagree_is_held(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    mon, tue, wed = date(2025, 9, 15), date(2025, 9, 16), date(2025, 9, 17)
    earlier = datetime(2025, 9, 1, tzinfo=UTC)
    records: list[Record] = [
        # P1 on Monday: two morning marks of the same time that disagree (held, both).
        *marks_for("P1", mon),
        AttendanceMarkRecord("a2", "P1", mon, "AM", "N", T1),
        # P2 on Monday: the morning mark sent twice, the same both times.
        *marks_for("P2", mon),
        AttendanceMarkRecord("b2", "P2", mon, "AM", "/", T1),
        # P1 on Tuesday: an older morning mark replaced by a newer one.
        *marks_for("P1", tue),
        AttendanceMarkRecord("c0", "P1", tue, "AM", "N", earlier),
        # P2 on Tuesday: a morning mark only.
        AttendanceMarkRecord("d1", "P2", tue, "AM", "/", T1),
        # Wednesday: P1's only two marks are both for the morning and disagree (held, both);
        # P2's two are a morning and an afternoon.
        AttendanceMarkRecord("e1", "P1", wed, "AM", "/", T1),
        AttendanceMarkRecord("e2", "P1", wed, "AM", "L", T1),
        *marks_for("P2", wed),
    ]
    _, published = run(engine, Stream.ATTENDANCE, records, window=Window())
    assert held(engine, Stream.ATTENDANCE) == {"one_mark_per_session": ("warn", 4)}
    # P1 Monday PM, P2 Monday AM and PM, P1 Tuesday AM and PM, P2 Tuesday AM, P2 Wednesday x2.
    assert published.rows_published == 8


def test_an_error_check_blocks_and_keeps_the_watermark_then_a_fixed_read_publishes(
    engine: Engine,
) -> None:
    run(engine, Stream.PUPILS, ROLL)
    mon = date(2025, 9, 15)
    good = [*marks_for("P1", mon), *marks_for("P2", mon)]
    run(engine, Stream.ATTENDANCE, good)
    before = watermark(engine, Stream.ATTENDANCE)
    # This academy treats a wrong session as an error: the whole batch stops.
    strict = {"severity": {"session_am_pm": "error"}}
    tue = date(2025, 9, 16)
    bad = [*marks_for("P1", tue), AttendanceMarkRecord("z", "P2", tue, "XX", "/", LATER)]
    audited, _ = run(engine, Stream.ATTENDANCE, bad, rules=strict, stamp=LATER)
    assert audited.blocked
    assert held(engine, Stream.ATTENDANCE) == {"session_am_pm": ("error", 1)}
    assert watermark(engine, Stream.ATTENDANCE) == before and count(engine, attendance_marks) == 4
    # Codes that were never national on the date block too (here: H after August 2024).
    audited, _ = run(engine, Stream.ATTENDANCE, marks_for("P1", tue, ("H", "/")), stamp=LATER)
    assert audited.blocked and any("'H' x 1" in p for p in audited.problems)
    assert watermark(engine, Stream.ATTENDANCE) == before
    fixed = [*marks_for("P1", tue), *marks_for("P2", tue)]
    audited, published = run(engine, Stream.ATTENDANCE, fixed, rules=strict, stamp=LATER)
    assert not audited.blocked and published.rows_published == 4
    assert count(engine, attendance_marks) == 8 and watermark(engine, Stream.ATTENDANCE) > before


def test_a_mark_before_admission_is_released_once_the_roll_is_corrected(engine: Engine) -> None:
    late = [pupil("P1", UPNS[0], admitted=date(2025, 9, 22))]
    run(engine, Stream.PUPILS, late)
    mon = date(2025, 9, 15)
    run(engine, Stream.ATTENDANCE, marks_for("P1", mon))
    assert held(engine, Stream.ATTENDANCE) == {"pupil_enrolled_on_date": ("warn", 2)}
    assert count(engine, attendance_marks) == 0
    # The MIS's admission date was wrong; once corrected, the held marks are released.
    run(engine, Stream.PUPILS, [pupil("P1", UPNS[0])], stamp=LATER)
    batch_id, rows = release(engine, academy_id=ACADEMY, stream=Stream.ATTENDANCE)
    assert rows == 2 and batch_id is not None
    audited = audit(engine=engine, batch_id=batch_id, academy=academy(), today=TODAY)
    assert audited.quarantined == 0
    publish(engine=engine, batch_id=batch_id, max_removal_share=1.0)
    assert count(engine, attendance_marks) == 2


def test_characteristic_periods_out_of_order_or_overlapping_are_held(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    periods = [
        CharacteristicPeriodRecord("P1", "fsm", date(2020, 9, 1), date(2021, 1, 31), T1),
        CharacteristicPeriodRecord("P1", "fsm", date(2021, 2, 1), None, T1),  # follows on
        CharacteristicPeriodRecord("P2", "fsm", date(2022, 9, 1), date(2023, 7, 31), T1),
        CharacteristicPeriodRecord("P2", "fsm", date(2023, 1, 1), None, T1),  # overlaps
        CharacteristicPeriodRecord("P2", "cla", date(2023, 5, 1), date(2023, 4, 1), T1),
    ]
    _, published = run(engine, Stream.CHARACTERISTICS, periods)
    assert held(engine, Stream.CHARACTERISTICS) == {
        "periods_not_overlapping": ("warn", 2),
        "period_ordered": ("warn", 1),
    }
    assert published.rows_published == 2 and count(engine, characteristic_periods) == 2


def test_results_out_of_range_or_for_unknown_pupils_are_held(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)

    def result(pupil: str, stage: str, subject: str, method: str, value: str) -> Record:
        return AssessmentResultRecord(pupil, stage, 2025, subject, method, "", value, T1)

    results = [
        result("P1", "KS2", "reading", "TT", "104"),
        result("P1", "KS2", "maths", "TT", "A"),
        result("P2", "KS2", "reading", "TT", "79"),
        result("P2", "KS2", "maths", "TT", "121"),
        result("P1", "KS4", "maths", "EX", "4"),
        result("P2", "KS4", "maths", "EX", "10"),
        result("P9", "KS2", "writing", "TA", "EXS"),
    ]
    _, published = run(engine, Stream.ASSESSMENTS, results)
    assert held(engine, Stream.ASSESSMENTS) == {
        "ks2_test_result_valid": ("warn", 2),
        "gcse_grade_valid": ("warn", 1),
        "pupil_known": ("warn", 1),
    }
    assert published.rows_published == 3 and count(engine, assessment_results) == 3


def test_inconsistent_session_counts_are_held(engine: Engine) -> None:
    run(engine, Stream.PUPILS, ROLL)
    summaries = [
        AttendanceSummaryRecord("P1", 2024, "9902001", 300, 10, 285, 5, T1),
        AttendanceSummaryRecord("P2", 2024, "9902001", 300, 10, 295, 5, T1),
    ]
    run(engine, Stream.ATTENDANCE_SUMMARIES, summaries)
    assert held(engine, Stream.ATTENDANCE_SUMMARIES) == {"sessions_consistent": ("warn", 1)}
    assert count(engine, attendance_summaries) == 1


def test_a_backfill_much_smaller_than_the_last_read_of_its_year_is_blocked(
    engine: Engine,
) -> None:
    run(engine, Stream.PUPILS, ROLL)
    year = Window(dates=(date(2024, 9, 1), date(2025, 8, 31)))
    days = [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5)]
    full = [m for day in days for p in ("P1", "P2") for m in marks_for(p, day)]
    audited, published = run(engine, Stream.ATTENDANCE, full, window=year)
    assert not audited.blocked and published.rows_published == 12
    audited, _ = run(engine, Stream.ATTENDANCE, full[:2], window=year, stamp=LATER)
    assert audited.blocked and any("marks_not_shrunk" in p for p in audited.problems)
    assert count(engine, attendance_marks) == 12


def test_the_sql_upn_check_agrees_with_the_dfe_algorithm(engine: Engine) -> None:
    rng = random.Random(7)
    samples = [make_upn(rng.randrange(1000), rng.randrange(10000), 15, n) for n in range(300)]
    samples += [rng.choice(CHECK_ALPHABET) + upn[1:] for upn in samples[:300]]  # letter swapped
    samples += [upn[:12] + rng.choice(CHECK_ALPHABET) for upn in samples[:100]]  # temporary
    samples += ["", "A12345678901", "I123456789012", "A12345678901O", "a123456789012"]
    with engine.connect() as conn:
        verdicts = conn.execute(
            text("SELECT u, meta.upn_is_valid(u) FROM unnest(CAST(:u AS text[])) AS u"),
            {"u": samples},
        ).all()
    assert [bool(v) for _, v in verdicts] == [is_valid_upn(u) for u in samples]
    assert 200 < sum(bool(v) for _, v in verdicts) < len(samples)


def test_the_sql_weekend_test_agrees_with_the_calendar(engine: Engine) -> None:
    from trustdata.quality.expectations import _weekend

    with engine.connect() as conn:
        verdicts = conn.execute(
            text(
                f"SELECT CAST(d AS date), {_weekend('CAST(d AS date)')} FROM generate_series("
                "DATE '1999-12-20', DATE '2000-01-16', INTERVAL '1 day') AS d UNION ALL "
                f"SELECT CAST(d AS date), {_weekend('CAST(d AS date)')} FROM generate_series("
                "DATE '2025-08-25', DATE '2026-09-06', INTERVAL '1 day') AS d"
            )
        ).all()
    assert len(verdicts) == 28 + 378
    assert all(weekend == (day.weekday() >= 5) for day, weekend in verdicts)


def test_suites_agree_with_the_domain_constants() -> None:
    by_stream = suites()
    assert set(by_stream) == set(Stream)

    def value_set(stream: Stream, check: str) -> set[str]:
        (found,) = [c for c in by_stream[stream].checks if c.name == check]
        return set(found.kwargs["value_set"])

    assert value_set(Stream.ENROLMENTS, "registration_known") == set(REGISTRATIONS)
    assert value_set(Stream.CHARACTERISTICS, "characteristic_known") == set(CHARACTERISTICS)
    assert value_set(Stream.DELETIONS, "deletion_kind_known") == {PUPIL_OBJECT, MARK_OBJECT}
    assert {"upn_valid", "code_valid_on_date", "register_complete"} <= check_names()


def test_a_broken_suite_or_rule_says_what_to_fix(tmp_path: Any) -> None:
    suite = tmp_path / "pupils_landing.json"
    suite.write_text(json.dumps({"expectations": [{"type": "x", "meta": {"check": "a"}}]}))
    with pytest.raises(SuiteError, match=r"expectation 1: meta.severity is missing"):
        load_suite(suite, Stream.PUPILS)
    with pytest.raises(ValueError, match="no check is called upn_checked; the checks are: "):
        QualityRules.model_validate({"severity": {"upn_checked": "error"}})
    with pytest.raises(ValueError, match="min_completeness"):
        QualityRules.model_validate({"min_completeness": 2})


def test_data_docs_render_the_suites_and_validations_without_pupil_data(
    engine: Engine, tmp_path: Path, config: str
) -> None:
    run(engine, Stream.PUPILS, [*ROLL, pupil("P3", None)])
    run(
        engine,
        Stream.ATTENDANCE,
        [*marks_for("P1", date(2025, 9, 15)), *marks_for("P9", date(2025, 9, 15))],
    )
    index, rendered = build_data_docs(engine, tmp_path / "site")
    assert rendered == 2 and index.is_file()
    pages = {
        p.relative_to(index.parent).as_posix(): p.read_text() for p in index.parent.rglob("*.html")
    }
    assert "expectations/attendance_landing.html" in pages
    validations_pages = [name for name in pages if name.startswith("validations/")]
    assert len(validations_pages) == 2
    suite_page = pages["expectations/attendance_landing.html"]
    assert "code not mapped to a national code in force" in suite_page
    assert not any(upn in html for html in pages.values() for upn in UPNS[:3])
    # The command renders the same site and says where it is.
    out = tmp_path / "cli-site"
    assert main(["--config", config, "quality-docs", "--out", str(out), "--per-feed", "1"]) == 0
    assert (out / "index.html").is_file()
    assert main(["--config", config, "quality-docs", "--per-feed", "0"]) == 2
