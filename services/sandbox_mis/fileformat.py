"""Read and write a dataset as JSON, so a user can serve their own (synthetic) data.

The format is documented in ``services/sandbox_mis/README.md``; ``examples/tiny.json`` is a
complete small file. Errors name the school or student position and the field, never a value,
because a user's file may hold real pupil data by mistake.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sandbox_mis.models import CODE_INDEX, MARK_CODES, NO_MARK, Dataset, FlagStyle, School, Student

#: The value of the top-level ``format`` key.
FORMAT = "sandbox-mis-dataset/1"

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_STUDENT_ID = re.compile(r"^[A-Z][0-9]+$")
_FLAGS = (
    "free_school_meals",
    "free_school_meals_6",
    "in_lea_care",
    "ever_in_care",
    "eal",
    "service_child",
)


def dump(dataset: Dataset, path: str | Path) -> None:
    """Write ``dataset`` to ``path`` as JSON in the documented format."""
    document = {
        "format": FORMAT,
        "start_year": dataset.start_year,
        "school_days": [day.isoformat() for day in dataset.school_days],
        "schools": [_school_json(school) for school in dataset.schools],
    }
    Path(path).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def load(path: str | Path) -> Dataset:
    """Read a dataset written by :func:`dump` (or by hand); raise ValueError when invalid."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path}: expected a JSON object with 'format': '{FORMAT}'")
    days = [date.fromisoformat(day) for day in _field(document, "school_days", "dataset")]
    if days != sorted(set(days)):
        raise ValueError(f"{path}: school_days must be distinct and in ascending order")
    schools = [
        _school(raw, f"schools[{i}]", len(days))
        for i, raw in enumerate(_field(document, "schools", "dataset"))
    ]
    ids = [student.id for school in schools for student in school.students]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: student ids must be unique across the dataset")
    return Dataset(
        start_year=int(_field(document, "start_year", "dataset")),
        school_days=days,
        schools=schools,
    )


def _field(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise ValueError(f"{where}: missing field '{key}'")
    return raw[key]


def _school_json(school: School) -> dict[str, Any]:
    return {
        "id": school.id,
        "name": school.name,
        "urn": school.urn,
        "la_code": school.la_code,
        "establishment_number": school.establishment_number,
        "phase": school.phase,
        "token": school.token,
        "flag_style": school.flag_style.value,
        "students": [_student_json(student) for student in school.students],
    }


def _student_json(student: Student) -> dict[str, Any]:
    def stamp(moment: datetime | None) -> str | None:
        return moment.strftime(_TIME_FORMAT) if moment else None

    return {
        "id": student.id,
        "upi": student.upi,
        "mis_id": student.mis_id,
        "forename": student.forename,
        "surname": student.surname,
        "gender": student.gender,
        "date_of_birth": student.date_of_birth.isoformat(),
        "upn": student.upn,
        "nc_year": "R" if student.nc_year == 0 else str(student.nc_year),
        "admission_date": student.admission_date.isoformat(),
        "leaving_date": student.leaving_date.isoformat() if student.leaving_date else None,
        "sen_status": student.sen_status,
        **{flag: getattr(student, flag) for flag in _FLAGS},
        "ethnicity": student.ethnicity,
        "created_at": stamp(student.created_at),
        "updated_at": stamp(student.updated_at),
        "deleted_at": stamp(student.deleted_at),
        "marks": _marks_text(student.marks),
    }


def _marks_text(marks: bytes) -> str:
    if all(mark == NO_MARK for mark in marks):
        return ""  # a student never marked, such as a record deleted soon after entry
    return " ".join("-" if mark == NO_MARK else MARK_CODES[mark] for mark in marks)


def _school(raw: dict[str, Any], where: str, n_days: int) -> School:
    students = [
        _student(item, f"{where}.students[{i}]", n_days)
        for i, item in enumerate(_field(raw, "students", where))
    ]
    try:
        flag_style = FlagStyle(_field(raw, "flag_style", where))
    except ValueError as error:
        styles = ", ".join(style.value for style in FlagStyle)
        raise ValueError(f"{where}: flag_style must be one of {styles}") from error
    return School(
        id=str(_field(raw, "id", where)),
        name=str(_field(raw, "name", where)),
        urn=int(_field(raw, "urn", where)),
        la_code=str(_field(raw, "la_code", where)),
        establishment_number=str(_field(raw, "establishment_number", where)),
        phase=str(_field(raw, "phase", where)),
        token=str(_field(raw, "token", where)),
        flag_style=flag_style,
        students=students,
    )


def _student(raw: dict[str, Any], where: str, n_days: int) -> Student:
    def when(key: str, optional: bool = False) -> datetime | None:
        value = raw.get(key) if optional else _field(raw, key, where)
        return datetime.strptime(value, _TIME_FORMAT) if value else None

    student_id = str(_field(raw, "id", where))
    if not _STUDENT_ID.match(student_id):
        raise ValueError(f"{where}: id must be a capital letter then digits (mark ids use them)")
    nc_year = str(_field(raw, "nc_year", where))
    leaving = raw.get("leaving_date")
    created, updated = when("created_at"), when("updated_at")
    assert created is not None and updated is not None
    return Student(
        id=student_id,
        upi=str(_field(raw, "upi", where)),
        mis_id=str(_field(raw, "mis_id", where)),
        forename=str(_field(raw, "forename", where)),
        surname=str(_field(raw, "surname", where)),
        gender=str(_field(raw, "gender", where)),
        date_of_birth=date.fromisoformat(_field(raw, "date_of_birth", where)),
        upn=str(_field(raw, "upn", where)),
        nc_year=0 if nc_year == "R" else int(nc_year),
        admission_date=date.fromisoformat(_field(raw, "admission_date", where)),
        leaving_date=date.fromisoformat(leaving) if leaving else None,
        sen_status=str(_field(raw, "sen_status", where)),
        **{flag: bool(_field(raw, flag, where)) for flag in _FLAGS},
        ethnicity=str(_field(raw, "ethnicity", where)),
        created_at=created,
        updated_at=updated,
        deleted_at=when("deleted_at", optional=True),
        marks=_marks(str(raw.get("marks", "")), where, n_days),
    )


def _marks(text: str, where: str, n_days: int) -> bytes:
    """Parse the space-separated codes, one per session; an empty string means no marks."""
    codes = text.split()
    if not codes:
        return bytes([NO_MARK]) * (2 * n_days)
    if len(codes) != 2 * n_days:
        raise ValueError(f"{where}.marks: expected {2 * n_days} codes (AM and PM per school day)")
    unknown = sorted(set(codes) - set(CODE_INDEX) - {"-"})
    if unknown:
        raise ValueError(f"{where}.marks: unknown codes {unknown}; use 2024 national codes or -")
    return bytes(NO_MARK if code == "-" else CODE_INDEX[code] for code in codes)
