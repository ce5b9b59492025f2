"""The sandbox's data model: schools, their students and each student's session marks.

Marks are the bulk of the data (about 1.14 million at scale 1.0), so a student keeps them as
one ``bytes`` value: byte ``2 * day + session`` is an index into :data:`MARK_CODES` for that
school day's AM (session 0) or PM (session 1) register, or :data:`NO_MARK` when the student was
not on roll.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import cache

from trustdata.domain.codes import AttendanceCode, national_code_table

#: The day the 2024 register codes came into force; the sandbox serves only that code set.
CODES_IN_FORCE_FROM = date(2024, 8, 19)

#: The byte marking a session when the student was not on roll.
NO_MARK = 255


@cache
def national_codes() -> tuple[AttendanceCode, ...]:
    """Return the national codes in force from 19 August 2024, in the order of the table."""
    return tuple(national_code_table().codes_in_force(CODES_IN_FORCE_FROM))


#: Register codes by index: the byte values stored in :attr:`Student.marks`.
MARK_CODES: tuple[str, ...] = tuple(code.code for code in national_codes())

#: The index of each register code in :data:`MARK_CODES`.
CODE_INDEX: dict[str, int] = {code: index for index, code in enumerate(MARK_CODES)}


class FlagStyle(StrEnum):
    """How a school's MIS writes yes/no flags in ``extended_details`` (real feeds differ)."""

    BOOL = "bool"  # true / false
    YN = "yn"  # "Y" / "N"
    TF = "tf"  # "T" / "F"
    ONE_ZERO = "10"  # 1 / 0


@dataclass(slots=True)
class Student:
    """One student record as the MIS holds it, with the student's marks for the year."""

    id: str
    upi: str
    mis_id: str
    forename: str
    surname: str
    gender: str
    date_of_birth: date
    upn: str
    nc_year: int  # 0 is Reception
    admission_date: date
    leaving_date: date | None
    sen_status: str  # "N" none, "K" SEN support, "E" EHC plan
    free_school_meals: bool
    free_school_meals_6: bool
    in_lea_care: bool
    ever_in_care: bool
    eal: bool
    service_child: bool
    ethnicity: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    marks: bytes = b""

    @property
    def initials(self) -> str:
        """Return the initials of the forename and surname."""
        return self.forename[:1] + self.surname[:1]

    @property
    def premium_pupil_indicator(self) -> bool:
        """Return True when the student attracts pupil premium (including service premium)."""
        return (
            self.free_school_meals_6 or self.in_lea_care or self.ever_in_care or self.service_child
        )

    @property
    def disadvantaged(self) -> bool:
        """Return True when the DfE counts the student as disadvantaged (FSM6, CLA or PLAC)."""
        return self.free_school_meals_6 or self.in_lea_care or self.ever_in_care


@dataclass(slots=True)
class School:
    """One academy in the sandbox, with every student record it has held this year."""

    id: str
    name: str
    urn: int
    la_code: str
    establishment_number: str
    phase: str
    token: str
    flag_style: FlagStyle
    students: list[Student] = field(default_factory=list)


@dataclass(slots=True)
class Dataset:
    """Everything the sandbox serves: the school days of the year and the schools."""

    start_year: int
    school_days: list[date]
    schools: list[School]

    def school(self, school_id: str) -> School | None:
        """Return the school with ``school_id``, or None."""
        return next((s for s in self.schools if s.id == school_id), None)
