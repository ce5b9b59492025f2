"""The national attendance code table, read with the rules in force on a mark's date.

Source: The School Attendance (Pupil Registration) (England) Regulations 2024 (in force from
19 August 2024) and the codes before it. A code is looked up by the mark's date, so ``H`` is
authorised absence on 18 August 2024 and not a valid code a day later.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources


class Category(StrEnum):
    """The DfE's statistical category of a register code."""

    PRESENT = "present"
    APPROVED_EDUCATIONAL_ACTIVITY = "approved_educational_activity"
    AUTHORISED_ABSENCE = "authorised_absence"
    UNAUTHORISED_ABSENCE = "unauthorised_absence"
    NOT_POSSIBLE = "not_possible"


@dataclass(frozen=True, slots=True)
class AttendanceCode:
    """One row of the national code table."""

    code: str
    meaning: str
    category: Category
    counts_as_possible: bool
    counts_as_attendance: bool
    effective_from: date
    effective_to: date | None

    def in_force_on(self, day: date) -> bool:
        """Return True when the code may be used for a mark on ``day``."""
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class CodeTable:
    """All national codes with their effective dates; look a code up by the mark's date."""

    def __init__(self, codes: list[AttendanceCode]) -> None:
        self._by_code: dict[str, list[AttendanceCode]] = {}
        for code in codes:
            self._by_code.setdefault(code.code, []).append(code)

    def lookup(self, code: str, day: date) -> AttendanceCode | None:
        """Return the code in force on ``day``, or None when the code is not valid then."""
        for candidate in self._by_code.get(code, ()):
            if candidate.in_force_on(day):
                return candidate
        return None

    @property
    def codes(self) -> list[AttendanceCode]:
        """Every version of every code, in the table's order."""
        return [c for versions in self._by_code.values() for c in versions]

    def codes_in_force(self, day: date) -> list[AttendanceCode]:
        """Return every code that may be used on ``day``."""
        return [c for versions in self._by_code.values() for c in versions if c.in_force_on(day)]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code


def _parse_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


@cache
def national_code_table() -> CodeTable:
    """Return the national code table shipped with the package."""
    source = resources.files("trustdata.domain").joinpath("attendance_codes.csv")
    with source.open("r", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    codes = []
    for row in rows:
        start = _parse_date(row["effective_from"])
        assert start is not None
        codes.append(
            AttendanceCode(
                code=row["code"],
                meaning=row["meaning"],
                category=Category(row["category"]),
                counts_as_possible=row["counts_as_possible"] == "true",
                counts_as_attendance=row["counts_as_attendance"] == "true",
                effective_from=start,
                effective_to=_parse_date(row["effective_to"]),
            )
        )
    return CodeTable(codes)
