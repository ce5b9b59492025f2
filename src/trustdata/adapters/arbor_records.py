"""Arbor's objects turned into canonical records: the pure half of the Arbor adapter.

Everything here works on JSON already read (no HTTP), so the rules can be read in one place:
how a reference names an object, how a student and its satellite records (person, UPN
assignments, free school meal eligibilities, pupil premium recipients, care status assignments)
become a pupil, enrolment and characteristic periods, and how an attendance record becomes a
mark. Tolerances for shapes that are [unknown] for real Arbor are described in
:mod:`trustdata.adapters.arbor`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from trustdata.adapters.base import AdapterError
from trustdata.adapters.values import parse_flag, parse_nc_year
from trustdata.domain.disadvantage import fsm_flags
from trustdata.domain.records import (
    AttendanceMarkRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
    PupilRecord,
)

_GENDERS = {"MALE": "M", "M": "M", "FEMALE": "F", "F": "F"}
#: ``careStatus`` read as "in care"; statuses naming a past or post-care state, or the orders
#: that end care for PLAC (adoption, special guardianship, child arrangements or residence),
#: are PLAC. Arbor's exact status names are [unknown], so any status containing a marker counts.
_IN_CARE = "IN_CARE"
_PLAC_MARKERS = ("PREVIOUSLY", "POST", "ADOPT", "GUARDIAN", "CHILD_ARRANGEMENT", "RESIDENCE")
#: The characteristics care status assignments give.
_CARE_SETS = ("cla", "plac")


def ref_id(value: Any) -> str | None:
    """The id of a reference: its ``id``, else the last segment of its ``href``, else None."""
    if isinstance(value, Mapping):
        if value.get("id") is not None:
            return str(value["id"])
        href = value.get("href")
        if isinstance(href, str) and href.rstrip("/"):
            return href.rstrip("/").rsplit("/", 1)[-1]
        return None
    return None if value is None else str(value)


def parse_day(value: Any) -> date | None:
    """A date from ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``; None or "" give None."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise AdapterError("a date is not in YYYY-MM-DD form") from None


def care_characteristic(status: Any) -> str | None:
    """``cla`` for ``IN_CARE``, ``plac`` for a previously-looked-after status, else None."""
    text = str(status or "").strip().upper()
    if text == _IN_CARE:
        return "cla"
    if any(marker in text for marker in _PLAC_MARKERS):
        return "plac"
    return None


def _open_on(row: Mapping[str, Any], day: date, start: str, end: str) -> bool:
    began, ended = parse_day(row.get(start)), parse_day(row.get(end))
    return (began is None or began <= day) and (ended is None or ended >= day)


def current_upn(assignments: list[Mapping[str, Any]], as_at: date) -> str | None:
    """The UPN on ``as_at``: an open assignment (any, if none is open), permanent before
    temporary, the latest started first."""
    current = [
        row
        for row in assignments
        if row.get("upn") and _open_on(row, as_at, "startDatetime", "endDatetime")
    ] or [row for row in assignments if row.get("upn")]
    if not current:
        return None
    best = max(
        current,
        key=lambda r: (
            parse_flag(r.get("isTemporary")) is not True,
            str(r.get("startDatetime") or ""),
        ),
    )
    return str(best["upn"]).strip().upper()


@dataclass
class ArborPupil:
    """What the roll's resources say about one student, collected before the join."""

    student: Mapping[str, Any]
    person: Mapping[str, Any] = field(default_factory=dict)
    upns: list[Mapping[str, Any]] = field(default_factory=list)
    fsm: list[Mapping[str, Any]] = field(default_factory=list)
    premium: list[Mapping[str, Any]] = field(default_factory=list)
    care: list[Mapping[str, Any]] = field(default_factory=list)

    def fsm_flags(self, as_at: date) -> tuple[bool, bool]:
        """(eligible on ``as_at``, FSM6 on ``as_at``) from the eligibility periods."""
        periods = ((parse_day(r.get("startDate")), parse_day(r.get("endDate"))) for r in self.fsm)
        return fsm_flags(periods, as_at)

    def care_flags(self, as_at: date) -> tuple[bool, bool]:
        """(in care on ``as_at``, previously looked after by ``as_at``) from the care records.

        PLAC is the DfE's "previously looked after": left care through adoption, a special
        guardianship or a child arrangements order. A care spell that simply ended (the child
        went home) is neither, so only a previously-looked-after status counts, from its start
        date on, whatever its end date (the status lasts).
        """
        in_care = previously = False
        for row in self.care:
            characteristic = care_characteristic(row.get("careStatus"))
            if characteristic == "cla" and _open_on(row, as_at, "startDate", "endDate"):
                in_care = True
            elif characteristic == "plac":
                start = parse_day(row.get("startDate"))
                previously = previously or start is None or start <= as_at
        return in_care, previously

    def record(self, mis_id: str, as_at: date) -> PupilRecord:
        """The canonical pupil record as at ``as_at`` (names are left behind)."""
        fsm_eligible, fsm6 = self.fsm_flags(as_at)
        in_care, previously = self.care_flags(as_at)
        gender = self.person.get("gender")
        return PupilRecord(
            mis_id=mis_id,
            upn=current_upn(self.upns, as_at),
            date_of_birth=parse_day(self.person.get("dateOfBirth")),
            gender=_GENDERS.get(str(gender).strip().upper()) if gender else None,
            nc_year=parse_nc_year(self.student.get("yearGroup")),
            fsm_eligible=fsm_eligible,
            fsm6=fsm6,
            in_care=in_care,
            previously_in_care=previously,
            service_child=any(
                str(row.get("premiumType") or "").upper() == "SERVICE_CHILD" for row in self.premium
            ),
            sen_status=None,
            eal=None,
            admission_date=parse_day(self.student.get("startDate")),
            leaving_date=parse_day(self.student.get("endDate")),
            source_updated_at=None,
        )

    def periods(
        self, mis_id: str, skipped: Counter[str]
    ) -> tuple[list[CharacteristicPeriodRecord], set[str]]:
        """The pupil's whole set of characteristic periods, and the characteristics not to
        cover as empty: those Arbor holds a period of, and those a skipped row may belong to.

        A row without a start date cannot be keyed and is skipped, as is a care status this
        adapter does not know; ``skipped`` counts both by characteristic (or ``care status``).
        A skipped care row may be either care characteristic, so it leaves both ``cla`` and
        ``plac`` uncovered: the pupil's stored periods of them stay as they are.
        """
        records: list[CharacteristicPeriodRecord] = []
        not_empty: set[str] = set()
        for characteristic, could_be, row in self._period_rows():
            if characteristic is None:
                skipped["care status not known"] += 1
                not_empty.update(could_be)
                continue
            start = parse_day(row.get("startDate"))
            if start is None:
                skipped[f"{characteristic} without a start date"] += 1
                not_empty.update(could_be)
                continue
            not_empty.add(characteristic)
            end = parse_day(row.get("endDate"))
            records.append(CharacteristicPeriodRecord(mis_id, characteristic, start, end, None))
        return records, not_empty

    def _period_rows(self) -> Iterator[tuple[str | None, tuple[str, ...], Mapping[str, Any]]]:
        """Each row with its characteristic (None: a care status not known) and the sets the
        row may belong to."""
        for row in self.fsm:
            yield "fsm", ("fsm",), row
        for row in self.care:
            yield care_characteristic(row.get("careStatus")), _CARE_SETS, row
        for row in self.premium:
            if str(row.get("premiumType") or "").strip().upper() == "SERVICE_CHILD":
                yield "service_child", ("service_child",), row


def enrolment_record(student: Mapping[str, Any]) -> EnrolmentRecord | None:
    """The student's period on roll, from ``startDate`` and ``endDate`` (None without a start).

    Arbor's student says nothing of dual registration here, so ``registration`` is None.
    """
    mis_id, start = ref_id(student), parse_day(student.get("startDate"))
    if mis_id is None or start is None:
        return None
    return EnrolmentRecord(mis_id, start, parse_day(student.get("endDate")), None, None)


def mark_record(row: Mapping[str, Any], codes: Mapping[str, str]) -> AttendanceMarkRecord:
    """Turn an ``AttendanceRecord`` into a canonical mark; the session is AM before noon."""
    start = row.get("startDatetime")
    mark_date = parse_day(start)
    pupil = ref_id(row.get("student"))
    if mark_date is None or pupil is None:
        raise AdapterError("attendance-records: a record has no startDatetime or no student")
    time_part = str(start)[11:13]
    session = "AM" if not time_part.isdigit() or int(time_part) < 12 else "PM"
    code_ref = ref_id(row.get("attendanceMark")) or ""
    return AttendanceMarkRecord(
        mis_mark_id=ref_id(row),
        mis_pupil_id=pupil,
        mark_date=mark_date,
        session=session,
        # A mark id the code table does not know is kept as-is: the audit reports it.
        source_code=codes.get(code_ref, code_ref),
        source_updated_at=None,
    )


def list_of(body: object, key: str, resource: str) -> list[Mapping[str, Any]]:
    """The list a body holds under ``key`` (else its only list); AdapterError if neither."""
    if isinstance(body, Mapping):
        found = body.get(key)
        if found is None:
            lists = [value for value in body.values() if isinstance(value, list)]
            found = lists[0] if len(lists) == 1 else None
        if isinstance(found, list):
            return [row for row in found if isinstance(row, Mapping)]
    raise AdapterError(f"{resource}: expected a JSON object with a '{key}' list")


def camel(resource: str) -> str:
    """A resource path's list key: ``ukdfe-upn-assignments`` -> ``ukdfeUpnAssignments``."""
    head, *rest = resource.split("-")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)
