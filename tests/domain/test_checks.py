"""The row rules onboarding applies in memory; the audit applies the same ones in SQL
(tests/pipeline/test_pupil_keyed.py feeds it these cases)."""

from __future__ import annotations

from datetime import date

import pytest

from trustdata.domain import checks
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
)

SEP, JUL = date(2024, 9, 2), date(2025, 7, 18)


def result(stage: str, method: str, value: str, subject: str = "MAT") -> AssessmentResultRecord:
    return AssessmentResultRecord("p1", stage, 2025, subject, method, "", value, None)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (EnrolmentRecord("p1", SEP, JUL, "main", None), None),
        (EnrolmentRecord("p1", JUL, SEP, None, None), checks.PERIOD_ORDERED),
        (EnrolmentRecord("p1", SEP, None, "guest", None), checks.REGISTRATION_KNOWN),
    ],
)
def test_enrolment_rules(record: EnrolmentRecord, reason: str | None) -> None:
    assert checks.enrolment_problem(record) == reason


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (CharacteristicPeriodRecord("p1", "fsm", SEP, None, None), None),
        (CharacteristicPeriodRecord("p1", "cla", JUL, SEP, None), checks.PERIOD_ORDERED),
        (CharacteristicPeriodRecord("p1", "pp", SEP, JUL, None), checks.CHARACTERISTIC_KNOWN),
    ],
)
def test_period_rules(record: CharacteristicPeriodRecord, reason: str | None) -> None:
    assert checks.period_problem(record) == reason


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (result("KS2", "TT", "80"), None),
        (result("KS2", "TT", "120"), None),
        (result("KS2", "TT", "A"), None),
        (result("KS2", "TT", "79"), checks.KS2_TEST_RESULT),
        (result("KS2", "TT", "121"), checks.KS2_TEST_RESULT),
        (result("KS2", "TT", "EXS"), checks.KS2_TEST_RESULT),
        (result("KS2", "TA", "EXS"), None),
        (result("KS4", "EX", "9"), None),
        (result("KS4", "EX", "U"), None),
        (result("KS4", "EX", "10"), checks.GCSE_GRADE),
        (result("KS4", "EX", "A*"), checks.GCSE_GRADE),
    ],
)
def test_result_rules(record: AssessmentResultRecord, reason: str | None) -> None:
    assert checks.result_problem(record) == reason


@pytest.mark.parametrize(
    ("counts", "reason"),
    [
        ((380, 10, 360, 10), None),
        ((100, 10, 95, 10), checks.SESSIONS_CONSISTENT),
        ((100, -1, 95, 0), checks.SESSIONS_CONSISTENT),
    ],
)
def test_summary_rules(counts: tuple[int, int, int, int], reason: str | None) -> None:
    record = AttendanceSummaryRecord("p1", 2024, "9902001", *counts, None)
    assert checks.summary_problem(record) == reason
