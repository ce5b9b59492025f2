"""One school of the dataset as an Arbor-style MIS holds it: integer ids, revisions, changelog.

Arbor numbers every change in a school with one increasing revision. The sandbox derives the
revisions from the dataset's times, so they are the same for the same dataset:

- a student record is created at ``created_at``, updated at ``updated_at`` when that is later,
  and a deleted record is deleted at ``deleted_at``; the student's person, UPN assignment, free
  school meal periods, pupil premium and care records are created right after the student;
- every mark of a register (a school day's AM or PM session, a "slot") is created when the
  register is taken (09:05 / 13:35), in student id order;
- a few marks per school are register corrections: taken as ``N`` and changed to the dataset's
  ``I`` three school days later (08:40), so they are a create and then an update.

Events are sorted by time and numbered from 1. A register's marks are one block of consecutive
revisions, so a changelog or list page is found by bisection over a few hundred blocks rather
than by building the year's million changes.

After that history, tests can change the school while it is served (:meth:`ArborSchool.correct_mark`,
:meth:`ArborSchool.delete_mark`, :meth:`ArborSchool.add_object`): each change takes the next
revision and shows in the changelog, as a change made in the MIS today would.
:meth:`ArborSchool.add_code` gives the school a register code of its own (the code table has no
changelog, so it takes no revision).
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from itertools import accumulate
from typing import Any

from sandbox_mis import arbor_objects
from sandbox_mis import arbor_wire as wire
from sandbox_mis.index import SESSION_UPDATED
from sandbox_mis.marks import minutes_late
from sandbox_mis.models import CODE_INDEX, MARK_CODES, NO_MARK, School, Student, national_codes

#: A record id is ``(slot + 1) * RECORD_ID_BASE + student id``: stable and decodable.
RECORD_ID_BASE = 100_000
#: How many marks per school are recorded as ``N`` and corrected to ``I`` later.
CORRECTIONS_PER_SCHOOL = 5
#: The resources with a changelog: students, attendance records and the students' satellites.
FEEDS = ("students", "attendance-records", *arbor_objects.ENTITY_TYPES)
_CORRECTION_DELAY_DAYS = 3
_CORRECTED_AT = time(8, 40)
_SESSION_START = (time(9, 0), time(13, 30))
_SESSION_END = (time(12, 0), time(15, 30))

#: Renders the change at an offset into a block, given that change's revision.
_Render = Callable[[int, int], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Correction:
    """A mark first recorded as ``N`` and corrected to its dataset code at ``corrected_at``."""

    row: int
    slot: int
    record_id: int
    corrected_at: datetime


@dataclass(slots=True)
class _Event:
    at: datetime
    order: int  # breaks ties at one time: students, then registers, then corrections
    key: int
    size: int
    feed: str
    render: _Render
    object_id: int = 0  # a satellite's own id (its key is its student's)
    first_revision: int = 0


class Feed:
    """One resource's changes as blocks of consecutive revisions, for changelog pages."""

    def __init__(self, events: list[_Event]) -> None:
        self._first = [e.first_revision for e in events]
        self._size = [e.size for e in events]
        self._render = [e.render for e in events]
        self._before = [0, *accumulate(self._size)]

    def rank(self, revision: int) -> int:
        """Return how many of the feed's changes have a revision of ``revision`` or less."""
        i = bisect_right(self._first, revision) - 1
        if i < 0:
            return 0
        return self._before[i] + min(self._size[i], revision - self._first[i] + 1)

    def changes(self, first: int, last: int) -> list[dict[str, Any]]:
        """Return the changes at positions ``[first, last)`` of the feed."""
        page: list[dict[str, Any]] = []
        i = bisect_right(self._before, first) - 1
        k = first - self._before[i]
        while first + len(page) < last:
            page.append(self._render[i](k, self._first[i] + k))
            k += 1
            if k == self._size[i]:
                i, k = i + 1, 0
        return page

    def append(self, revision: int, render: _Render) -> None:
        """Add one change at ``revision``, later than every change already in the feed."""
        self._first.append(revision)
        self._size.append(1)
        self._render.append(render)
        self._before.append(self._before[-1] + 1)


class ArborSchool:
    """A school's students, their satellite records and marks, numbered the Arbor way."""

    def __init__(
        self, school: School, school_days: list[date], position: int, start_year: int
    ) -> None:
        if len(school.students) >= RECORD_ID_BASE:
            raise ValueError("too many student records for the Arbor record id scheme")
        self.school = school
        self.days = school_days
        #: Arbor ids are small integers: a student's position in the school, from 1.
        self.ids = {s.id: n for n, s in enumerate(school.students, start=1)}
        self.live = [s for s in school.students if s.deleted_at is None]
        self.mark_ids = [100 * position + i + 1 for i in range(len(MARK_CODES))]
        #: The school's register codes by index: the national ones, then its own (add_code).
        self._codes = list(MARK_CODES)
        self._code_index = dict(CODE_INDEX)
        self._roster = self.live  # in Arbor id order, since ids are positions
        self._row = {self.ids[s.id]: row for row, s in enumerate(self._roster)}
        self._keys = [int(s.id[1:]) for s in self._roster]
        n_slots = 2 * len(school_days)
        #: Every mark each register was taken with (revisions are numbered over these) ...
        self._slot_all = [
            array("I", (r for r, s in enumerate(self._roster) if s.marks[t] != NO_MARK))
            for t in range(n_slots)
        ]
        #: ... and the ones still served (a deleted mark leaves this list only).
        self._slot_rows = list(self._slot_all)
        self._before = [0, *accumulate(len(rows) for rows in self._slot_rows)]
        moments = [(d, t) for d in school_days for t in range(2)]
        self._starts = [datetime.combine(d, _SESSION_START[t]) for d, t in moments]
        self._start_text = [wire.text(m) for m in self._starts]
        self._end_text = [wire.text(datetime.combine(d, _SESSION_END[t])) for d, t in moments]
        self._owned = arbor_objects.satellites(self.live, self.ids, start_year)
        self.corrections = self._choose_corrections()
        self._corrected = {c.record_id: c for c in self.corrections}
        #: Marks changed or deleted while serving: record id -> (code index, revision).
        self._changed: dict[int, tuple[int, int]] = {}
        self._deleted: set[int] = set()
        self._lock = threading.Lock()
        self._number_events()
        self.lists = self._build_lists()
        self.by_id = {name: {o["id"]: o for o in rows} for name, rows in self.lists.items()}

    def _build_lists(self) -> dict[str, list[dict[str, Any]]]:
        """The small resources, in id order: students, their satellites and the code table."""
        students = [
            wire.student(s, sid, self.student_revision[sid])
            for s in self.live
            for sid in (self.ids[s.id],)
        ]
        codes = [
            wire.attendance_mark(i, c) for i, c in zip(self.mark_ids, national_codes(), strict=True)
        ]
        return {
            "students": students,
            **{name: [obj for _, obj in owned] for name, owned in self._owned.items()},
            "attendance-marks": codes,
        }

    # -- revisions -------------------------------------------------------------------------

    def _choose_corrections(self) -> list[Correction]:
        """Pick marks coded ``I`` spread over the year, each corrected a few days later."""
        chosen: list[Correction] = []
        n_slots = len(self._slot_rows)
        target = CODE_INDEX["I"]
        for j in range(CORRECTIONS_PER_SCHOOL):
            start = (j + 1) * n_slots // (CORRECTIONS_PER_SCHOOL + 1)
            found = next(
                (
                    (row, t)
                    for t in range(start, n_slots - 2 * _CORRECTION_DELAY_DAYS)
                    for row in self._slot_rows[t]
                    if self._roster[row].marks[t] == target
                ),
                None,
            )
            if found is None or any(c.slot == found[1] and c.row == found[0] for c in chosen):
                continue
            row, t = found
            day = self.days[t // 2 + _CORRECTION_DELAY_DAYS]
            chosen.append(
                Correction(row, t, self._record_id(row, t), datetime.combine(day, _CORRECTED_AT))
            )
        return chosen

    def _number_events(self) -> None:
        events = [*self._student_events(), *self._register_events(), *self._correction_events()]
        # Stable: a student's satellites stay right after the student's create.
        events.sort(key=lambda e: (e.at, e.order, e.key))
        revision = 1
        for event in events:
            event.first_revision = revision
            revision += event.size
        #: The school's latest revision; a changelog client resumes from it.
        self.current_revision = revision - 1
        self.feeds = {name: Feed([e for e in events if e.feed == name]) for name in FEEDS}
        students = [e for e in events if e.feed == "students"]
        #: Each student's latest revision (events are sorted, so the last one wins).
        self.student_revision = {e.key: e.first_revision for e in students}
        self._student_created = {e.key: e.first_revision for e in reversed(students)}
        self._slot_first = {e.key: e.first_revision for e in events if e.order == 1}
        self._update_revision = {e.key: e.first_revision for e in events if e.order == 2}
        #: Each satellite object's revision: (resource, id) -> its create.
        self._object_revision = {
            (e.feed, e.object_id): e.first_revision
            for e in events
            if e.feed in arbor_objects.ENTITY_TYPES
        }

    def _student_events(self) -> Iterator[_Event]:
        owned: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for name, objects in self._owned.items():
            for sid, obj in objects:
                owned.setdefault(sid, []).append((name, obj))
        for s in self.school.students:
            sid = self.ids[s.id]
            yield _Event(s.created_at, 0, sid, 1, "students", self._student_change(sid, "create"))
            for name, obj in owned.get(sid, []):
                yield _Event(
                    s.created_at,
                    0,
                    sid,
                    1,
                    name,
                    _created(wire.ref(obj["entityType"], name, obj["id"])),
                    obj["id"],
                )
            if s.deleted_at is not None:
                yield _Event(
                    s.deleted_at, 0, sid, 1, "students", self._student_change(sid, "delete")
                )
            elif s.updated_at > s.created_at:
                yield _Event(
                    s.updated_at, 0, sid, 1, "students", self._student_change(sid, "update")
                )

    def _student_change(self, sid: int, change: str) -> _Render:
        def render(_offset: int, revision: int) -> dict[str, Any]:
            previous = 0 if change == "create" else self._student_created[sid]
            return wire.change(wire.ref("Student", "students", sid), change, previous, revision)

        return render

    def _register_events(self) -> Iterator[_Event]:
        for t, rows in enumerate(self._slot_all):
            if rows:
                day = self.days[t // 2]
                at = datetime.combine(day, SESSION_UPDATED[t % 2])
                yield _Event(at, 1, t, len(rows), "attendance-records", self._mark_created(t))

    def _mark_created(self, slot: int) -> _Render:
        def render(offset: int, revision: int) -> dict[str, Any]:
            record_id = self._record_id(self._slot_all[slot][offset], slot)
            return wire.change(wire.record_ref(record_id), "create", 0, revision)

        return render

    def _correction_events(self) -> Iterator[_Event]:
        for c in self.corrections:
            yield _Event(c.corrected_at, 2, c.record_id, 1, "attendance-records", self._fix(c))

    def _fix(self, c: Correction) -> _Render:
        def render(_offset: int, revision: int) -> dict[str, Any]:
            created = self._created(c.row, c.slot)
            return wire.change(wire.record_ref(c.record_id), "update", created, revision)

        return render

    # -- changes while serving -------------------------------------------------------------

    def correct_mark(self, record_id: int, code: str) -> int:
        """Change a mark's code, as a register correction made now; return its revision.

        Raises KeyError for an unknown or deleted record and ValueError for a code the school
        does not have (the 2024 national codes and those added with :meth:`add_code`).
        """
        if code not in self._code_index:
            raise ValueError(f"{code!r} is not a 2024 national register code nor added by add_code")
        with self._lock:
            row, slot = self._served(record_id)
            previous = self._revision(record_id, row, slot)
            revision = self.current_revision + 1
            self._changed[record_id] = (self._code_index[code], revision)
            self._publish(
                "attendance-records", revision, wire.record_ref(record_id), "update", previous
            )
            return revision

    def add_code(self, code: str, like: str) -> int:
        """Add a register code of the school's own (an MIS sub-code such as ``I1``) to the code
        table, with the statistical flags of the national code ``like``; return its mark id.

        :meth:`correct_mark` can then record it. The code table has no changelog, so this takes
        no revision. Raises KeyError when ``like`` is not a 2024 national code and ValueError
        for a code the school already has.
        """
        national = national_codes()[CODE_INDEX[like]]
        with self._lock:
            if code in self._code_index:
                raise ValueError(f"{code!r} is already a register code of this school")
            index = len(self._codes)
            if index >= 99:
                raise ValueError("too many register codes for the mark id scheme")
            mark_id = self.mark_ids[0] + index
            own = replace(national, code=code, meaning=f"{national.meaning} (the school's code)")
            row = wire.attendance_mark(mark_id, own)
            self.lists["attendance-marks"].append(row)
            self.by_id["attendance-marks"][mark_id] = row
            self.mark_ids.append(mark_id)
            self._codes.append(code)
            self._code_index[code] = index
            return mark_id

    def delete_mark(self, record_id: int) -> int:
        """Delete a mark (taken in error); return the revision of its ``delete`` change."""
        with self._lock:
            row, slot = self._served(record_id)
            previous = self._revision(record_id, row, slot)
            revision = self.current_revision + 1
            self._deleted.add(record_id)
            self._slot_rows[slot] = array("I", (r for r in self._slot_rows[slot] if r != row))
            self._before = [0, *accumulate(len(rows) for rows in self._slot_rows)]
            self._publish(
                "attendance-records", revision, wire.record_ref(record_id), "delete", previous
            )
            return revision

    def add_object(self, resource: str, student_id: int, fields: Mapping[str, Any]) -> int:
        """Add an object of a student's satellite resource (``fields`` besides the reference and
        ``student``), as one recorded now; return the revision of its ``create`` change."""
        if resource not in arbor_objects.ENTITY_TYPES:
            raise ValueError(f"objects can be added to {sorted(arbor_objects.ENTITY_TYPES)} only")
        if student_id not in self._row:
            raise KeyError(f"no live student with Arbor id {student_id}")
        with self._lock:
            objects = self.lists[resource]
            obj = arbor_objects.added(
                resource, max((o["id"] for o in objects), default=0) + 1, student_id, fields
            )
            revision = self.current_revision + 1
            objects.append(obj)
            self.by_id[resource][obj["id"]] = obj
            self._object_revision[resource, obj["id"]] = revision
            self._publish(
                resource, revision, wire.ref(obj["entityType"], resource, obj["id"]), "create", 0
            )
            return revision

    def delete_object(self, resource: str, object_id: int) -> int:
        """Delete an object of a satellite resource (entered in error); return the revision of
        its ``delete`` change. KeyError when there is no such object."""
        if resource not in arbor_objects.ENTITY_TYPES:
            raise ValueError(f"objects can be deleted from {sorted(arbor_objects.ENTITY_TYPES)}")
        with self._lock:
            obj = self.by_id[resource].pop(object_id, None)
            if obj is None:
                raise KeyError(f"no {resource} object {object_id}")
            self.lists[resource].remove(obj)
            changed = wire.ref(obj["entityType"], resource, object_id)
            revision = self.current_revision + 1
            previous = self._object_revision.pop((resource, object_id))
            self._publish(resource, revision, changed, "delete", previous)
            return revision

    def _publish(
        self, feed: str, revision: int, changed: dict[str, Any], kind: str, previous: int
    ) -> None:
        """Add a change to its feed, then move the school to its revision (lock held).

        In that order, so a client never sees a ``currentRevision`` whose change is missing.
        """
        change = wire.change(changed, kind, previous, revision)
        self.feeds[feed].append(revision, lambda _offset, _revision: change)
        self.current_revision = revision

    def _served(self, record_id: int) -> tuple[int, int]:
        found = self._locate(record_id)
        if found is None:
            raise KeyError(f"no attendance record {record_id}")
        return found

    # -- attendance records ----------------------------------------------------------------

    def _record_id(self, row: int, slot: int) -> int:
        return (slot + 1) * RECORD_ID_BASE + self.ids[self._roster[row].id]

    def _created(self, row: int, slot: int) -> int:
        return self._slot_first[slot] + bisect_left(self._slot_all[slot], row)

    def _revision(self, record_id: int, row: int, slot: int) -> int:
        """A record's latest revision: a change while serving, a correction, or its create."""
        if record_id in self._changed:
            return self._changed[record_id][1]
        if record_id in self._corrected:
            return self._update_revision[record_id]
        return self._created(row, slot)

    def slot_window(self, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        """Return the slots ``[first, stop)`` whose register starts in ``[start, end)``."""
        first = 0 if start is None else bisect_left(self._starts, start)
        stop = len(self._starts) if end is None else bisect_left(self._starts, end)
        return first, max(first, stop)

    def records(self, window: tuple[int, int], offset: int, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` records, ``offset`` records into the slots of ``window``."""
        first = self._before[window[0]] + offset
        last = min(first + limit, self._before[window[1]])
        page: list[dict[str, Any]] = []
        if first >= last:
            return page
        t = bisect_right(self._before, first) - 1
        k = first - self._before[t]
        while len(page) < last - first:
            if k == len(self._slot_rows[t]):
                t, k = t + 1, 0
                continue
            page.append(self._record(self._slot_rows[t][k], t))
            k += 1
        return page

    def records_by_id(self, ids: Iterable[int], window: tuple[int, int]) -> list[dict[str, Any]]:
        """Return the served records among ``ids`` whose slot is in ``window``, in id order."""
        found = (self._locate(record_id) for record_id in sorted(set(ids)))
        return [self._record(*at) for at in found if at and window[0] <= at[1] < window[1]]

    def record(self, record_id: int) -> dict[str, Any] | None:
        """Return one record by id, or None when there is no such mark."""
        found = self._locate(record_id)
        return None if found is None else self._record(*found)

    def _locate(self, record_id: int) -> tuple[int, int] | None:
        """The (roster row, slot) of a served record, or None."""
        slot, sid = divmod(record_id, RECORD_ID_BASE)
        slot -= 1
        row = self._row.get(sid)
        if row is None or not 0 <= slot < len(self._slot_rows) or record_id in self._deleted:
            return None
        if self._roster[row].marks[slot] == NO_MARK:
            return None
        return row, slot

    def _record(self, row: int, slot: int) -> dict[str, Any]:
        student = self._roster[row]
        record_id = self._record_id(row, slot)
        code_index = self._changed.get(record_id, (student.marks[slot], 0))[0]
        return wire.record(
            record_id=record_id,
            student_id=self.ids[student.id],
            mark_id=self.mark_ids[code_index],
            start=self._start_text[slot],
            end=self._end_text[slot],
            minutes_late=minutes_late(self._codes[code_index], self._keys[row], slot),
            revision=self._revision(record_id, row, slot),
        )

    # -- students --------------------------------------------------------------------------

    def student(self, sid: int) -> Student | None:
        """Return the live student with Arbor id ``sid``, or None."""
        row = self._row.get(sid)
        return None if row is None else self._roster[row]


def _created(changed: dict[str, Any]) -> _Render:
    def render(_offset: int, revision: int) -> dict[str, Any]:
        return wire.change(changed, "create", 0, revision)

    return render
