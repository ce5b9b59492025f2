"""Per-school lookup structures that let the server build any page without scanning the year.

Marks are ordered by ``(updated_at, id)``. Every mark of one register (a school day's AM or PM
session, a "slot") shares its ``updated_at``, so the order is slot by slot and, within a slot,
by mark id. A mark id is ``"M" + slot (4 digits) + the student id's digits``, so within a slot
the id order is the order of the students' digit strings. A cumulative count of marks per slot
turns a page offset into a slot by bisection.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import accumulate
from typing import Any

from sandbox_mis.marks import minutes_late
from sandbox_mis.models import MARK_CODES, NO_MARK, School, Student, national_codes
from sandbox_mis.wire import php_datetime

#: When each register's marks were last updated: AM and PM (UTC).
SESSION_UPDATED = (time(9, 5), time(13, 35))
_SESSIONS = ("AM", "PM")
#: Indexes of the codes that carry minutes late.
_LATE_CODES = frozenset(i for i, code in enumerate(MARK_CODES) if code in ("L", "U"))


@dataclass(frozen=True, slots=True)
class Window:
    """The slots ``[start, stop)`` a mark query covers."""

    start: int
    stop: int


class SchoolIndex:
    """One school's students, leavers, deletions and marks, sorted the way the API serves them."""

    def __init__(self, school: School, school_days: list[date], position: int) -> None:
        self.school = school
        self.days = school_days
        # Attendance code ids differ between schools, as real MIS ids do.
        self.code_ids = [f"AC{100 * position + i + 1}" for i in range(len(MARK_CODES))]
        live = [s for s in school.students if s.deleted_at is None]
        #: The three student lists the API serves, each sorted by (updated_at, id).
        self.lists = {
            "students": Sorted([s for s in live if s.leaving_date is None]),
            "students-leaver": Sorted([s for s in live if s.leaving_date is not None]),
            "deletions": Sorted([s for s in school.students if s.deleted_at is not None]),
        }
        self._roster = sorted(live, key=lambda s: s.id[1:])
        self._marks = [s.marks for s in self._roster]
        self._key = [int(s.id[1:]) for s in self._roster]
        self._slot_dates = [php_datetime(day) for day in school_days for _ in SESSION_UPDATED]
        self.slot_times = [datetime.combine(d, t) for d in school_days for t in SESSION_UPDATED]
        self._slot_updated = [php_datetime(moment) for moment in self.slot_times]
        per_slot = [sum(m[t] != NO_MARK for m in self._marks) for t in range(2 * len(school_days))]
        self._before = [0, *accumulate(per_slot)]
        # The hot path renders marks as text from pieces rendered once (see ``marks_json``).
        self._student_json = [json.dumps(s.id) for s in self._roster]
        self._code_json = [json.dumps(code_id) for code_id in self.code_ids]
        self._slot_json = [
            (_compact(self._slot_dates[t]), _compact(self._slot_updated[t]))
            for t in range(len(self.slot_times))
        ]

    def codes(self) -> list[dict[str, Any]]:
        """Return the attendance code objects this school uses."""
        return [
            {"id": code_id, "code": c.code, "description": c.meaning, "type": c.category.value}
            for code_id, c in zip(self.code_ids, national_codes(), strict=True)
        ]

    def window(
        self, *, updated_after: datetime | None, start_date: date | None, end_date: date | None
    ) -> Window:
        """Return the slots whose marks match the filters."""
        start, stop = 0, len(self.slot_times)
        if updated_after is not None:
            start = bisect_right(self.slot_times, updated_after)
        if start_date is not None:
            start = max(start, 2 * bisect_left(self.days, start_date))
        if end_date is not None:
            stop = min(stop, 2 * bisect_right(self.days, end_date))
        return Window(start, max(start, stop))

    def count(self, window: Window) -> int:
        """Return the number of marks in ``window``."""
        return self._before[window.stop] - self._before[window.start]

    def marks(self, window: Window, offset: int, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` mark objects, starting ``offset`` marks into ``window``."""
        first = self._before[window.start] + offset
        last = min(first + limit, self._before[window.stop])
        if first >= last:
            return []
        first_slot = bisect_right(self._before, first) - 1
        skip = first - self._before[first_slot]
        page: list[dict[str, Any]] = []
        for row, slot in self._positions(first_slot):
            if skip:
                skip -= 1
                continue
            page.append(self._mark(row, slot))
            if len(page) == last - first:
                break
        return page

    def marks_json(self, window: Window, offset: int, limit: int) -> str:
        """Return what ``json.dumps`` writes for the items of ``marks(...)``, comma-separated.

        The same text, built without a dict per mark: at a trust's scale the sandbox stands in
        for a server on another machine, so it must not be what a benchmark measures.
        """
        first = self._before[window.start] + offset
        last = min(first + limit, self._before[window.stop])
        if first >= last:
            return ""
        first_slot = bisect_right(self._before, first) - 1
        skip = first - self._before[first_slot]
        wanted = last - first
        parts: list[str] = []
        for slot in range(first_slot, len(self.slot_times)):
            on_date, updated = self._slot_json[slot]
            head = f'{{"id":"M{slot:04d}'
            session = _SESSIONS[slot % 2]
            for row, marks in enumerate(self._marks):
                code_index = marks[slot]
                if code_index == NO_MARK:
                    continue
                if skip:
                    skip -= 1
                    continue
                late = "null"
                if code_index in _LATE_CODES:
                    late = str(minutes_late(MARK_CODES[code_index], self._key[row], slot))
                parts.append(
                    f'{head}{self._roster[row].id[1:]}","student":{self._student_json[row]},'
                    f'"date":{on_date},"session":"{session}",'
                    f'"attendance_code":{self._code_json[code_index]},"comment":null,'
                    f'"minutes_late":{late},"created_at":{updated},"updated_at":{updated}}}'
                )
                if len(parts) == wanted:
                    return ",".join(parts)
        return ",".join(parts)

    def _positions(self, slot: int) -> Iterator[tuple[int, int]]:
        """Yield (roster row, slot) of every mark from ``slot`` on, in API order."""
        rows = range(len(self._marks))
        for t in range(slot, len(self.slot_times)):
            for row in rows:
                if self._marks[row][t] != NO_MARK:
                    yield row, t

    def _mark(self, row: int, slot: int) -> dict[str, Any]:
        student = self._roster[row]
        code_index = self._marks[row][slot]
        code = MARK_CODES[code_index]
        updated = self._slot_updated[slot]
        return {
            "id": f"M{slot:04d}{student.id[1:]}",
            "student": student.id,
            "date": self._slot_dates[slot],
            "session": _SESSIONS[slot % 2],
            "attendance_code": self.code_ids[code_index],
            "comment": None,
            "minutes_late": minutes_late(code, self._key[row], slot),
            "created_at": updated,
            "updated_at": updated,
        }


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Sorted:
    """Students sorted by (updated_at, id), with their times kept apart for bisection."""

    def __init__(self, students: list[Student]) -> None:
        self.items = sorted(students, key=lambda s: (s.updated_at, s.id))
        self._times = [s.updated_at for s in self.items]

    def after(self, updated_after: datetime | None) -> list[Student]:
        """Return the students updated strictly after ``updated_after`` (all when None)."""
        if updated_after is None:
            return self.items
        return self.items[bisect_right(self._times, updated_after) :]
