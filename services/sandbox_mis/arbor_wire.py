"""Arbor-shaped JSON for the sandbox's objects: plain dicts ready for ``json.dumps``.

Every object carries ``entityType``, ``href`` (relative to the school's host, as Arbor writes
it) and ``id``; references to other objects are the same three fields. Real Arbor references
carry no ``id``; the sandbox adds it so an adapter need not parse hrefs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sandbox_mis.models import Student
from trustdata.domain.codes import AttendanceCode, Category

#: The path prefix of every resource under a school's host.
REST_PREFIX = "/rest-v2"
#: A person's id is the student's id plus this, so the two are never confused by accident.
PERSON_ID_OFFSET = 100_000
_GENDERS = {"M": "MALE", "F": "FEMALE"}
#: ``record_ref`` is on the changelog's hot path, so its href prefix is built once.
_RECORD_HREF = f"{REST_PREFIX}/attendance-records/"


def text(moment: datetime | date | None) -> str | None:
    """Return a date as ``YYYY-MM-DD`` and a datetime as ``YYYY-MM-DD HH:MM:SS`` (or None)."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat()


def ref(entity_type: str, resource: str, object_id: int) -> dict[str, Any]:
    """Return a reference to an object: ``{entityType, href, id}``."""
    return {
        "entityType": entity_type,
        "href": f"{REST_PREFIX}/{resource}/{object_id}",
        "id": object_id,
    }


def record_ref(record_id: int) -> dict[str, Any]:
    """Return a reference to an attendance record."""
    return {"entityType": "AttendanceRecord", "href": f"{_RECORD_HREF}{record_id}", "id": record_id}


def change(
    changed: dict[str, Any], change_type: str, previous: int, revision: int
) -> dict[str, Any]:
    """Return a changelog entry; ``fromRevision`` is the object's previous revision (0: none)."""
    return {
        "changedObject": changed,
        "changeType": change_type,
        "fromRevision": previous,
        "toRevision": revision,
    }


def record(
    *,
    record_id: int,
    student_id: int,
    mark_id: int,
    start: str | None,
    end: str | None,
    minutes_late: int | None,
    revision: int,
) -> dict[str, Any]:
    """Return an ``AttendanceRecord``: one pupil's mark in one register."""
    return {
        **record_ref(record_id),
        "student": ref("Student", "students", student_id),
        "attendanceMark": ref("AttendanceMark", "attendance-marks", mark_id),
        "startDatetime": start,
        "endDatetime": end,
        "minutesLate": minutes_late,
        "revisionId": revision,
    }


def attendance_mark(mark_id: int, code: AttendanceCode) -> dict[str, Any]:
    """Return an ``AttendanceMark`` (a register code) with flags from its national category."""
    return {
        **ref("AttendanceMark", "attendance-marks", mark_id),
        "code": code.code,
        "name": code.meaning,
        "isStatisticalPossibleAttendance": code.counts_as_possible,
        "isStatisticalPresent": code.category is Category.PRESENT,
        "isStatisticalAuthorizedAbsent": code.category is Category.AUTHORISED_ABSENCE,
        "isStatisticalUnauthorizedAbsent": code.category is Category.UNAUTHORISED_ABSENCE,
        "isStatisticalApprovedEducationalActivity": (
            code.category is Category.APPROVED_EDUCATIONAL_ACTIVITY
        ),
    }


def error(status: int, reason: str, message: str) -> dict[str, Any]:
    """Return an error body in Arbor's ``{"response": {...}}`` shape."""
    return {"response": {"code": status, "reason": reason, "errors": [{"message": message}]}}


# -- a student and the records hanging off it ---------------------------------------------
#
# The dataset has flags only; the periods below are derived from the student's id and the
# year so they are the same on every run, and consistent with the flags: FSM6 is a free
# school meal period in the last six years, open when the pupil has FSM now.


def student(s: Student, sid: int, revision: int) -> dict[str, Any]:
    """Return a ``Student``: enrolment dates, year group and a reference to the person."""
    return {
        **ref("Student", "students", sid),
        "person": ref("Person", "persons", sid + PERSON_ID_OFFSET),
        "startDate": text(s.admission_date),
        "endDate": text(s.leaving_date),
        "yearGroup": "Reception" if s.nc_year == 0 else f"Year {s.nc_year}",
        "revisionId": revision,
    }


def person(s: Student, sid: int) -> dict[str, Any]:
    """Return the ``Person`` behind a student: legal names, date of birth and gender."""
    return {
        **ref("Person", "persons", sid + PERSON_ID_OFFSET),
        "legalFirstName": s.forename,
        "legalLastName": s.surname,
        "preferredFirstName": s.forename,
        "dateOfBirth": text(s.date_of_birth),
        "gender": _GENDERS[s.gender],
    }


def upn_assignment(s: Student, sid: int, object_id: int) -> dict[str, Any]:
    """Return the ``UkDfe_UpnAssignment`` holding the student's UPN."""
    return {
        **ref("UkDfe_UpnAssignment", "ukdfe-upn-assignments", object_id),
        "student": ref("Student", "students", sid),
        "upn": s.upn,
        "isTemporary": False,
        "startDatetime": text(datetime.combine(s.admission_date, datetime.min.time())),
        "endDatetime": None,
    }


def fsm_periods(s: Student, sid: int, start_year: int) -> list[tuple[date, date | None]]:
    """Return the student's free school meal periods (none unless FSM6)."""
    if not s.free_school_meals_6:
        return []
    k = sid % 4
    reception = date(start_year - s.nc_year, 9, 1)
    if s.free_school_meals:
        return [(max(date(start_year - k, 4, 15), reception), None)]
    start = max(date(start_year - 2 - k, 4, 15), reception)
    return [(start, start + timedelta(days=120 + 90 * k))]


def fsm_eligibility(sid: int, object_id: int, period: tuple[date, date | None]) -> dict[str, Any]:
    """Return a ``UkDfe_FreeSchoolMealEligibility`` period."""
    return {
        **ref("UkDfe_FreeSchoolMealEligibility", "ukdfe-free-school-meal-eligibilities", object_id),
        "student": ref("Student", "students", sid),
        "startDate": text(period[0]),
        "endDate": text(period[1]),
    }


def premium_types(s: Student) -> list[str]:
    """Return why the student attracts pupil premium this year (several reasons may apply)."""
    reasons = (
        (s.free_school_meals_6, "DEPRIVATION"),
        (s.in_lea_care, "LOOKED_AFTER"),
        (s.ever_in_care, "POST_LOOKED_AFTER"),
        (s.service_child, "SERVICE_CHILD"),
    )
    return [name for applies, name in reasons if applies]


def premium_recipient(sid: int, object_id: int, kind: str, start_year: int) -> dict[str, Any]:
    """Return a ``UkDfe_PupilPremiumRecipient`` for the financial year the school year opens."""
    return {
        **ref("UkDfe_PupilPremiumRecipient", "ukdfe-pupil-premium-recipients", object_id),
        "student": ref("Student", "students", sid),
        "premiumType": kind,
        "startDate": text(date(start_year, 4, 1)),
        "endDate": text(date(start_year + 1, 3, 31)),
    }


def care_assignment(s: Student, sid: int, object_id: int, start_year: int) -> dict[str, Any]:
    """Return the ``InCareStatusAssignment`` of a pupil in care (open) or previously (ended)."""
    k = sid % 3
    if s.in_lea_care:
        status, start = "IN_CARE", date(start_year - 1 - k, 11, 3)
        end: date | None = None
    else:
        status, start = "PREVIOUSLY_LOOKED_AFTER", date(start_year - 4 - k, 2, 10)
        start = max(start, s.date_of_birth + timedelta(days=30))
        end = start + timedelta(days=400)
    return {
        **ref("InCareStatusAssignment", "in-care-status-assignments", object_id),
        "student": ref("Student", "students", sid),
        "careStatus": status,
        "startDate": text(max(start, s.date_of_birth)),
        "endDate": text(end),
    }
