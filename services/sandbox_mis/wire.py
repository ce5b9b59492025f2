"""Wonde-shaped JSON for the sandbox's objects: plain dicts ready for ``json.dumps``."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sandbox_mis.models import FlagStyle, School, Student

#: The includes the students endpoints understand; others are ignored, as Wonde ignores them.
INCLUDES = frozenset({"education_details", "extended_details"})

_FLAG_VALUES: dict[FlagStyle, tuple[Any, Any]] = {
    FlagStyle.BOOL: (True, False),
    FlagStyle.YN: ("Y", "N"),
    FlagStyle.TF: ("T", "F"),
    FlagStyle.ONE_ZERO: (1, 0),
}


def php_datetime(moment: datetime | date) -> dict[str, Any]:
    """Return a moment (UTC) as a PHP DateTime object; a date becomes midnight."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return {
        "date": moment.strftime("%Y-%m-%d %H:%M:%S.000000"),
        "timezone_type": 3,
        "timezone": "UTC",
    }


def flag(style: FlagStyle, value: bool) -> Any:
    """Return a yes/no flag written the way the school's MIS writes it."""
    yes, no = _FLAG_VALUES[style]
    return yes if value else no


def school_json(school: School) -> dict[str, Any]:
    """Return the school object."""
    return {
        "id": school.id,
        "name": school.name,
        "urn": school.urn,
        "la_code": school.la_code,
        "establishment_number": school.establishment_number,
        "phase_of_education": school.phase,
    }


def student_json(student: Student, style: FlagStyle, includes: frozenset[str]) -> dict[str, Any]:
    """Return a student object with the requested includes, each wrapped in ``{"data": ...}``."""
    body: dict[str, Any] = {
        "id": student.id,
        "upi": student.upi,
        "mis_id": student.mis_id,
        "initials": student.initials,
        "surname": student.surname,
        "forename": student.forename,
        "middle_names": None,
        "legal_surname": student.surname,
        "legal_forename": student.forename,
        "gender": student.gender,
        "date_of_birth": php_datetime(student.date_of_birth),
        "restored_at": None,
        "created_at": php_datetime(student.created_at),
        "updated_at": php_datetime(student.updated_at),
    }
    if "education_details" in includes:
        body["education_details"] = {"data": _education(student)}
    if "extended_details" in includes:
        body["extended_details"] = {"data": _extended(student, style)}
    return body


def _education(student: Student) -> dict[str, Any]:
    return {
        "upn": student.upn,
        "current_nc_year": "R" if student.nc_year == 0 else str(student.nc_year),
        "admission_date": php_datetime(student.admission_date),
        "leaving_date": php_datetime(student.leaving_date) if student.leaving_date else None,
    }


def _extended(student: Student, style: FlagStyle) -> dict[str, Any]:
    return {
        "sen_status": student.sen_status,
        "premium_pupil_indicator": flag(style, student.premium_pupil_indicator),
        "free_school_meals": flag(style, student.free_school_meals),
        "free_school_meals_6": flag(style, student.free_school_meals_6),
        "in_lea_care": flag(style, student.in_lea_care),
        "ever_in_care": flag(style, student.ever_in_care),
        "english_as_additional_language_status": (
            "Other than English" if student.eal else "English"
        ),
        "service_children_indicator": flag(style, student.service_child),
        "ethnicity": student.ethnicity,
    }


def deletion_json(student: Student) -> dict[str, Any]:
    """Return the ``/deletions`` row for a deleted student."""
    assert student.deleted_at is not None
    deleted = php_datetime(student.deleted_at)
    return {"id": student.id, "type": "student", "deleted_at": deleted, "updated_at": deleted}
