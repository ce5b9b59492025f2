"""Row rules of the pupil-keyed streams, as plain functions of a canonical record.

The pipeline's audit applies the same rules as set-based SQL over a landed batch
(``trustdata.pipeline.audit``); onboarding applies these to a sample it holds in memory. Both
take their constants from here. Each function returns the reason a record fails, or None.
"""

from __future__ import annotations

from trustdata.domain.records import (
    CHARACTERISTICS,
    REGISTRATIONS,
    AssessmentResultRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
)

#: Codes a KS2 test result may hold instead of a scaled score (absent, below standard, ...).
KS2_RESULT_CODES = ("A", "B", "D", "F", "H", "J", "L", "M", "N", "P", "Q", "S", "T", "U", "X")
#: GCSE grades: 9 (highest) to 1, U (ungraded, 0 points), X (absent or no result).
GCSE_GRADES = ("9", "8", "7", "6", "5", "4", "3", "2", "1", "U", "X")
KS2_SCORE_RANGE = (80, 120)

PERIOD_ORDERED = "end date before start date"
REGISTRATION_KNOWN = f"registration is not one of {', '.join(REGISTRATIONS)}"
CHARACTERISTIC_KNOWN = f"characteristic is not one of {', '.join(CHARACTERISTICS)}"
KS2_TEST_RESULT = "KS2 test result is neither a scaled score 80-120 nor a result code"
GCSE_GRADE = "GCSE grade is not 9-1, U or X"
SESSIONS_CONSISTENT = "session counts are negative, or attended and absent exceed possible"


def enrolment_problem(record: EnrolmentRecord) -> str | None:
    """Why an enrolment fails its row rules, or None."""
    if record.end_date is not None and record.end_date < record.start_date:
        return PERIOD_ORDERED
    if record.registration is not None and record.registration not in REGISTRATIONS:
        return REGISTRATION_KNOWN
    return None


def period_problem(record: CharacteristicPeriodRecord) -> str | None:
    """Why a characteristic period fails its row rules, or None."""
    if record.end_date is not None and record.end_date < record.start_date:
        return PERIOD_ORDERED
    if record.characteristic not in CHARACTERISTICS:
        return CHARACTERISTIC_KNOWN
    return None


def result_problem(record: AssessmentResultRecord) -> str | None:
    """Why an assessment result fails its row rules, or None."""
    value = record.result
    if record.key_stage == "KS2" and record.method == "TT":
        low, high = KS2_SCORE_RANGE
        if value.isdigit() and 2 <= len(value) <= 3:
            return None if low <= int(value) <= high else KS2_TEST_RESULT
        return None if value in KS2_RESULT_CODES else KS2_TEST_RESULT
    if record.key_stage == "KS4" and record.method == "EX" and record.subject:
        return None if value in GCSE_GRADES else GCSE_GRADE
    return None


def summary_problem(record: AttendanceSummaryRecord) -> str | None:
    """Why an attendance summary fails its row rules, or None."""
    counts = (
        record.sessions_possible,
        record.sessions_authorised,
        record.sessions_attended,
        record.sessions_unauthorised,
    )
    if min(counts) < 0 or sum(counts[1:]) > record.sessions_possible:
        return SESSIONS_CONSISTENT
    return None
