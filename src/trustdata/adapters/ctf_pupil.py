"""One CTF pupil read into canonical records: the pupil, enrolments, FSM periods, attendance
summaries and marks, and KS2/KS4 results.

Which elements each stream reads, and the tolerances for what is [unknown], are described in
:mod:`trustdata.adapters.ctf`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from trustdata.adapters.base import AdapterError, Record
from trustdata.adapters.ctf_xml import Header, child_text, find_container, laestab
from trustdata.adapters.values import parse_eal, parse_flag, parse_nc_year
from trustdata.domain.disadvantage import fsm_flags
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceMarkRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
    PupilRecord,
)

_SESSION_COUNTS = (
    "SessionsPossible",
    "SessionsAuthorised",
    "SessionsAttended",
    "SessionsUnauthorised",
)
_WHOLE_NUMBER = re.compile(r"-?\d{1,9}")  # negative counts are left for the audit to quarantine
_YEAR = re.compile(r"\d{4}")
_STAGE = re.compile(r"(?:KS|KEYSTAGE)?([1-5])")
_STAGES_READ = ("KS2", "KS4")
_MULTI_CHARACTER_CODES_FROM = date(2024, 8, 19)  # the 2024 regulations' codes (C1, J1, Y1...)
_NO_MARK = " #"


def _key_stage(stage: str | None) -> str | None:
    found = _STAGE.fullmatch(re.sub(r"\s+", "", stage or "").upper())
    return f"KS{found.group(1)}" if found else None


class CtfPupil:
    """Reads one Pupil element; errors name the file and element, never a value."""

    def __init__(self, elem: ET.Element, name: str, index: int) -> None:
        self.elem = elem
        self.where = f"{name}: CTFpupilData/Pupil[{index}]"
        upn = child_text(elem, "UPN")
        self.upn = upn.upper() if upn else None
        self.mis_id = self.upn or f"{name}#Pupil[{index}]"

    def day(
        self, parent: ET.Element, tag: str, label: str, *, required: bool = False
    ) -> date | None:
        """A YYYY-MM-DD date at ``tag``; None when empty unless ``required``."""
        text = child_text(parent, tag)
        if text is None:
            if required:
                raise AdapterError(f"{self.where}/{label} is empty")
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise AdapterError(f"{self.where}/{label} is not a YYYY-MM-DD date") from None

    def number(self, parent: ET.Element, tag: str, label: str) -> int | None:
        """A whole number at ``tag``, or None when empty."""
        text = child_text(parent, tag)
        if text is None:
            return None
        if not _WHOLE_NUMBER.fullmatch(text):
            raise AdapterError(f"{self.where}/{label} is not a whole number")
        return int(text)

    def required(self, parent: ET.Element, tag: str, label: str) -> str:
        """The text at ``tag``; an error naming ``label`` when empty."""
        text = child_text(parent, tag)
        if text is None:
            raise AdapterError(f"{self.where}/{label} is empty")
        return text

    def year(self, parent: ET.Element, label: str) -> int:
        """The four-digit ``Year`` of the element at ``label``."""
        text = self.required(parent, "Year", f"{label}/Year")
        if not _YEAR.fullmatch(text):
            raise AdapterError(f"{self.where}/{label}/Year is not a four-digit year")
        return int(text)

    def fsm_periods(self) -> list[tuple[date, date | None]] | None:
        """The FSM instances as (start, end); None without an ``FSMhistory``."""
        history = find_container(self.elem, "FSMhistory")
        if history is None:
            return None
        periods = []
        for n, instance in enumerate(history.iterfind("FSMinstance"), start=1):
            label = f"FSMhistory/FSMinstance[{n}]"
            start = self.day(instance, "FSMstartDate", f"{label}/FSMstartDate", required=True)
            assert start is not None
            periods.append((start, self.day(instance, "FSMendDate", f"{label}/FSMendDate")))
        return periods

    def sen(self) -> str | None:
        """The ``SENprovision`` of the latest ``SEN`` entry, upper-cased; None without one."""
        history = find_container(self.elem, "SENhistory")
        if history is None:
            return None
        latest: tuple[date, int, str | None] | None = None
        for n, sen in enumerate(history.iterfind("SEN"), start=1):
            start = self.day(sen, "StartDate", f"SENhistory/SEN[{n}]/StartDate") or date.min
            # Undated entries rank by document order: the last one written wins.
            entry = (start, n, child_text(sen, "SENprovision"))
            latest = entry if latest is None or entry[:2] > latest[:2] else latest
        return latest[2].upper() if latest and latest[2] else None

    def record(self, header: Header, stamp: datetime) -> PupilRecord:
        """The pupil record, FSM judged on the header's as-at date."""
        periods = self.fsm_periods()
        fsm_eligible, fsm6 = (None, None) if periods is None else fsm_flags(periods, header.as_at)
        enrolments = sorted(self.enrolments(header, stamp), key=lambda e: e.start_date)
        latest = enrolments[-1] if enrolments else None
        return PupilRecord(
            mis_id=self.mis_id,
            upn=self.upn,
            date_of_birth=self.day(self.elem, "DOB", "DOB"),
            gender=child_text(self.elem, "Sex") or child_text(self.elem, "Gender"),
            nc_year=parse_nc_year(child_text(find_container(self.elem, "NCyearActual"))),
            fsm_eligible=fsm_eligible,
            fsm6=fsm6,
            in_care=parse_flag(child_text(find_container(self.elem, "LookedAfter"), "InCare")),
            previously_in_care=None,
            service_child=None,
            sen_status=self.sen(),
            eal=parse_eal(child_text(find_container(self.elem, "EAL"))),
            admission_date=latest.start_date if latest else None,
            leaving_date=latest.end_date if latest else None,
            source_updated_at=stamp,
        )

    def characteristics(self, header: Header, stamp: datetime) -> list[Record]:
        """One ``fsm`` period per FSM instance."""
        return [
            CharacteristicPeriodRecord(self.mis_id, "fsm", start, end, stamp)
            for start, end in self.fsm_periods() or []
        ]

    def summaries(self, header: Header, stamp: datetime) -> list[Record]:
        """One attendance summary per ``YearData`` with session counts."""
        attendance = find_container(self.elem, "Attendance")
        found: dict[tuple[int, str], Record] = {}
        for n, year in enumerate(() if attendance is None else attendance.iterfind("YearData"), 1):
            label = f"Attendance/YearData[{n}]"
            counts = {tag: self.number(year, tag, f"{label}/{tag}") for tag in _SESSION_COUNTS}
            if all(count is None for count in counts.values()):
                continue  # no totals written (marks only)
            for tag, count in counts.items():
                if count is None:
                    raise AdapterError(f"{self.where}/{label}/{tag} is empty")
            school = laestab(year)
            if school is None:
                raise AdapterError(
                    f"{self.where}/{label}/LEA and Estab are not a 3-digit LA number "
                    "and a 4-digit establishment number"
                )
            possible, authorised, attended, unauthorised = (c or 0 for c in counts.values())
            key = (self.year(year, label), school)
            found[key] = AttendanceSummaryRecord(
                self.mis_id, *key, possible, authorised, attended, unauthorised, stamp
            )
        return list(found.values())

    def assessments(self, header: Header, stamp: datetime) -> list[Record]:
        """KS2 and KS4 results; entries without a ``Result`` are skipped."""
        container = find_container(self.elem, "StageAssessments")
        found: dict[tuple[str, int, str, str, str], Record] = {}
        stages = () if container is None else container.iterfind("KeyStage")
        for k, stage in enumerate(stages, 1):
            key_stage = _key_stage(child_text(stage, "Stage"))
            if key_stage is None or key_stage not in _STAGES_READ:
                continue
            for n, item in enumerate(stage.iterfind("StageAssessment"), 1):
                label = f"StageAssessments/KeyStage[{k}]/StageAssessment[{n}]"
                result = child_text(item, "Result")
                if result is None:
                    continue
                key = (
                    key_stage,
                    self.year(item, label),
                    self.required(item, "Subject", f"{label}/Subject"),
                    self.required(item, "Method", f"{label}/Method"),
                    child_text(item, "Component") or "",
                )
                found[key] = AssessmentResultRecord(self.mis_id, *key, result, stamp)
        return list(found.values())

    def _own_entries(self, header: Header) -> Iterator[tuple[str, ET.Element]]:
        """This academy's ``SchoolHistory/School`` entries, each with its label."""
        history = find_container(self.elem, "SchoolHistory")
        schools = () if history is None or header.laestab is None else history.iterfind("School")
        for n, school in enumerate(schools, 1):
            if laestab(school) == header.laestab:  # else another school's entry
                yield f"SchoolHistory/School[{n}]", school

    def undated_entries(self, header: Header) -> int:
        """How many of this academy's entries have no ``EntryDate`` (and give no enrolment)."""
        return sum(
            child_text(school, "EntryDate") is None for _, school in self._own_entries(header)
        )

    def enrolments(self, header: Header, stamp: datetime) -> list[EnrolmentRecord]:
        """This academy's ``SchoolHistory`` entries, one per entry date."""
        found: dict[date, EnrolmentRecord] = {}
        for label, school in self._own_entries(header):
            start = self.day(school, "EntryDate", f"{label}/EntryDate")
            if start is None:
                continue
            end = self.day(school, "LeavingDate", f"{label}/LeavingDate")
            found[start] = EnrolmentRecord(self.mis_id, start, end, None, stamp)
        return list(found.values())

    def marks(self, header: Header, stamp: datetime) -> Iterator[Record]:
        """Session marks of this academy's own ``YearData``."""
        attendance = find_container(self.elem, "Attendance")
        for n, year in enumerate(() if attendance is None else attendance.iterfind("YearData"), 1):
            if laestab(year) != header.laestab:
                continue  # a previous school's register
            for s, sessions in enumerate(year.iterfind("AttendSessions"), 1):
                label = f"Attendance/YearData[{n}]/AttendSessions[{s}]"
                marks = (sessions.findtext("AttendanceMarks") or "").rstrip()
                if marks:
                    start = self.day(
                        sessions,
                        "AttendanceStartDate",
                        f"{label}/AttendanceStartDate",
                        required=True,
                    )
                    assert start is not None
                    yield from self._session_marks(marks, start, f"{label}/AttendanceMarks", stamp)

    def _session_marks(
        self, marks: str, start: date, label: str, stamp: datetime
    ) -> Iterator[AttendanceMarkRecord]:
        for i, code in enumerate(marks):
            if code in _NO_MARK:
                continue
            if code.isspace():
                raise AdapterError(
                    f"{self.where}/{label} has a line break or tab among its marks, which "
                    "would shift every later day (was the file reformatted?)"
                )
            day = start + timedelta(days=i // 2)
            if code.isdigit() and day >= _MULTI_CHARACTER_CODES_FROM:
                raise AdapterError(
                    f"{self.where}/{label} has a digit on or after 19 August 2024: how the "
                    "multi-character codes (C1, J1, Y1...) are written in a CTF is not known, "
                    "so this file's attendance is not read (take marks from the MIS instead)"
                )
            yield AttendanceMarkRecord(None, self.mis_id, day, ("AM", "PM")[i % 2], code, stamp)
