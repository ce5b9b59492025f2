"""Arbor's REST API (``/rest-v2``), one host per school, read through its changelog.

Wire format: ``../shared/reference/mis-wire-formats.md`` ("Arbor REST") and the sandbox's
``services/sandbox_mis/README.md`` ("Arbor-style API"). Arbor has no ``updated_after`` filter;
it numbers every change with a revision instead, so this adapter is a *change-log* source:
pages carry ``cursor`` (the school's ``currentRevision``, as text) and no ``watermark``. The
cursor is read *before* the data, so a change made while a read runs is read again next time.
A read that has a cursor yields at least one page, empty if need be, so the cursor is stored
even when nothing was found (otherwise the next run would read from the old position again).

Streams:

- pupils: a full read of the (small) roll, joined in memory by student id from ``students``,
  ``persons``, ``ukdfe-upn-assignments``, ``ukdfe-free-school-meal-eligibilities``,
  ``ukdfe-pupil-premium-recipients`` and ``in-care-status-assignments``.
- enrolments: each student's ``startDate`` to ``endDate``; ``registration`` is None (the
  student does not say whether it is a dual registration). A student without a start date is
  skipped and counted in a log line.
- characteristics: free school meal eligibilities as ``fsm`` periods; care status assignments
  as ``cla`` (``IN_CARE``) or ``plac`` (a previously-looked-after status, e.g.
  ``PREVIOUSLY_LOOKED_AFTER``, ``POST_LOOKED_AFTER``) periods; pupil premium recipients of type
  ``SERVICE_CHILD`` as ``service_child`` periods. Each period runs from the row's ``startDate``
  to its ``endDate``, as Arbor records them; rows without a start date, and care statuses not
  known, are skipped and counted in a log line (counts only). Every pupil on the roll is sent
  with their whole set of each characteristic, and a characteristic Arbor holds no row of
  for a pupil is named in the first page's ``covers``: a period removed in Arbor is withdrawn
  downstream, even the pupil's last one. A set a skipped row may belong to is not covered
  (it stays as stored): a skipped care row, whose status may be either, leaves both ``cla``
  and ``plac`` uncovered.
- attendance: the ``attendance-marks`` code table, then ``attendance-records`` in full, or,
  with a cursor, the records the changelog names as created or updated, read by id in chunks
  of up to ``ID_CHUNK`` (and ``ID_CHUNK_CHARS`` characters of ids) with the list filter
  ``attendance-records?filters.id.in=1,2,3``: one request per chunk instead of one per
  record. Deleted records are counted in a log line here; the deletions stream carries them.
- deletions: the ``students`` changelog's ``delete`` changes, as pupil deletions, and, from a
  cursor on, the ``attendance-records`` changelog's, as mark deletions (the pipeline moves a
  deleted mark out of the published marks, keeping it in ``raw.attendance_marks_superseded``).
  A full read does not replay the marks' whole changelog (every mark ever taken).

With a cursor, pupils, enrolments and characteristics first read page one of the changelog of
each resource they are built from (a new FSM period is its own object: it changes no student;
enrolments and characteristics count ``ukdfe-upn-assignments`` among theirs, since their rows
are keyed to pupils by UPN downstream) and yield nothing when none changed; when one did, the
stream is read whole again (a roll is a few hundred to a few thousand students).

The pupil flags FSM, FSM6 and in care, and the choice of UPN (an assignment open on the date),
are judged on the window's ``as_at`` (the run's logical date), or today without one: Arbor
holds dated periods, not flags. FSM6 is an eligibility period that started by that date and ran
on to (or is still open on) the earlier of six years before and 1 April 2018 (Universal Credit
transitional protection), as in the CTF adapter. A flag can change with the date alone, which no
changelog shows: an incremental read with nothing changed keeps the flags published last; the
characteristic periods carry the dates for anything judged "as at". SEN and EAL are not read
yet (None).

Tolerance, where the sandbox's shapes are [unknown] for real Arbor: a reference's id is its
``id`` field (a sandbox addition) or else the last segment of its ``href``; a list body is the
expected camel-cased key or else the body's only list; dates are read from their first ten
characters (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``); ``changeType`` is compared
case-insensitively; an unknown gender spelling gives None. Paging has no metadata: a list is
read page by page (``page-number`` from 1) until a page is empty (an id-filtered read stops
as soon as every id is found), and changelog pages are pinned to the ``currentRevision`` of
their first page. The ``filters.id.in`` value is comma-separated ids [inferred]; a server that
ignores the filter is detected (rows not asked for) and is an error, not a full read per
chunk.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

from trustdata.adapters.arbor_api import ArborApi, ArborOptions
from trustdata.adapters.arbor_records import (
    ArborPupil,
    enrolment_record,
    mark_record,
    ref_id,
)
from trustdata.adapters.base import (
    CHARACTERISTICS,
    AdapterError,
    AdapterOptions,
    Page,
    Record,
    Stream,
    Window,
)
from trustdata.domain.records import (
    MARK_OBJECT,
    PUPIL_OBJECT,
    AttendanceMarkRecord,
    DeletionRecord,
)

__all__ = ["ArborAdapter", "ArborOptions", "mark_record", "ref_id"]

log = logging.getLogger(__name__)

#: Changed attendance records are read by id, at most this many per ``filters.id.in`` read
#: (and no more than ``page_size``) ...
ID_CHUNK = 100
#: ... and at most this many characters of ids, so a URL stays well under the 2,000 or so
#: characters some proxies accept.
ID_CHUNK_CHARS = 1500

_FSM = "ukdfe-free-school-meal-eligibilities"
_PREMIUM = "ukdfe-pupil-premium-recipients"
_CARE = "in-care-status-assignments"
_UPNS = "ukdfe-upn-assignments"
#: The satellite resources joined to students, and the ``ArborPupil`` list each fills.
_SATELLITES = {
    _UPNS: "upns",
    _FSM: "fsm",
    _PREMIUM: "premium",
    _CARE: "care",
}
#: The resources each roll-derived stream is built from: a change to any of them re-reads it.
#: Enrolments and characteristics are keyed to pupils by UPN downstream, so a UPN fix re-reads
#: them too.
_SOURCES: dict[Stream, tuple[str, ...]] = {
    Stream.PUPILS: ("students", "persons", *_SATELLITES),
    Stream.ENROLMENTS: ("students", _UPNS),
    Stream.CHARACTERISTICS: ("students", _UPNS, _FSM, _PREMIUM, _CARE),
}


class ArborAdapter(ArborApi):
    """Pupils, enrolments, characteristic periods, session attendance and pupil deletions from
    one school's Arbor host."""

    kind: ClassVar[str] = "arbor"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {
            Stream.PUPILS,
            Stream.ENROLMENTS,
            Stream.CHARACTERISTICS,
            Stream.ATTENDANCE,
            Stream.DELETIONS,
        }
    )
    complete_reads: ClassVar[frozenset[Stream]] = frozenset({Stream.PUPILS, Stream.ATTENDANCE})
    Options: ClassVar[type[AdapterOptions]] = ArborOptions

    def _position(self, window: Window, resources: Sequence[str]) -> str | None:
        """The cursor for a read of ``resources``, or None when none changed since the window's.

        A full read needs only the school's revision; an incremental one reads page one (of one
        change) of each resource's changelog until one holds a change. The first revision read
        is the cursor: every later change is read again next time.
        """
        after = self._after(window)
        cursor: str | None = None
        for resource in resources:
            log_ = self._changelog(resource, after, page_size=1)
            cursor = cursor or str(log_.current)
            if window.cursor is None or next(log_.changes, None) is not None:
                return cursor
        return None

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of ``stream``'s records changed since the window's cursor, each with the
        cursor to resume from."""
        if stream is Stream.ATTENDANCE:
            yield from self._fetch_attendance(window)
            return
        if stream is Stream.DELETIONS:
            yield from self._fetch_deletions(window)
            return
        if stream not in _SOURCES:  # pragma: no cover - guarded by ``streams``
            raise AdapterError(f"the arbor adapter has no stream {stream!r}")
        cursor = self._position(window, _SOURCES[stream])
        if cursor is None:
            return  # nothing it is built from changed since the last batch
        covers: list[tuple[str, str]] = []
        if stream is Stream.PUPILS:
            records: Sequence[Record] = self._pupils(window)
        elif stream is Stream.ENROLMENTS:
            records = self._enrolments()
        else:
            records, covers = self._characteristics()
        yield from self._paged(records, cursor, covers)

    def _paged(
        self, records: Sequence[Record], cursor: str, covers: Sequence[tuple[str, str]] = ()
    ) -> Iterator[Page]:
        """Pages of ``page_size`` records; the first also names the empty sets ``covers``.

        There is always a page, even with no records: it carries the cursor, so the next run
        reads from it (a read with nothing to return would otherwise store no position).
        """
        size = self.options.page_size
        for start in range(0, max(len(records), 1), size):
            yield Page(records[start : start + size], None, cursor, covers if start == 0 else ())

    # -- the roll: pupils, enrolments, characteristics --------------------------------------

    def _roll(self, satellites: Iterable[str]) -> dict[str, ArborPupil]:
        """Every student on roll by id, with the rows of ``satellites`` attached."""
        pupils: dict[str, ArborPupil] = {}
        for row in self._all("students"):
            sid = ref_id(row)
            if sid is not None:
                pupils[sid] = ArborPupil(row)
        for resource in satellites:
            attr = _SATELLITES[resource]
            for row in self._all(resource):
                owner = pupils.get(ref_id(row.get("student")) or "")
                if owner is not None:
                    getattr(owner, attr).append(row)
        return pupils

    def _pupils(self, window: Window) -> list[Record]:
        as_at = window.as_at or date.today()
        pupils = self._roll(_SATELLITES)
        persons = {ref_id(row): row for row in self._all("persons")}
        for pupil in pupils.values():
            pupil.person = persons.get(ref_id(pupil.student.get("person")), {})
        return [pupil.record(sid, as_at) for sid, pupil in pupils.items()]

    def _enrolments(self) -> list[Record]:
        records: list[Record] = []
        students = self._all("students")
        for student in students:
            record = enrolment_record(student)
            if record is not None:
                records.append(record)
        if len(records) < len(students):
            log.warning(
                "arbor enrolments: skipped %d of %d students without a start date",
                len(students) - len(records),
                len(students),
            )
        return records

    def _characteristics(self) -> tuple[list[Record], list[tuple[str, str]]]:
        """Every pupil's periods, and the (pupil, characteristic) sets Arbor holds no row of
        (none skipped either)."""
        skipped: Counter[str] = Counter()
        records: list[Record] = []
        empty: list[tuple[str, str]] = []
        for sid, pupil in self._roll((_FSM, _PREMIUM, _CARE)).items():
            periods, not_empty = pupil.periods(sid, skipped)
            records.extend(periods)
            empty.extend((sid, c) for c in CHARACTERISTICS if c not in not_empty)
        if skipped:
            log.warning(
                "arbor characteristics: skipped %d rows (%s)",
                sum(skipped.values()),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items())),
            )
        return records, empty

    # -- attendance -----------------------------------------------------------------------

    def code_table(self) -> list[str]:
        """The school's register codes, as its code table lists them."""
        return sorted(set(self._codes().values()))

    def _codes(self) -> dict[str, str]:
        codes: dict[str, str] = {}
        for row in self._all("attendance-marks"):
            mark_id = ref_id(row)
            if mark_id is not None and row.get("code") is not None:
                codes[mark_id] = str(row["code"])
        return codes

    def _fetch_attendance(self, window: Window) -> Iterator[Page]:
        codes = self._codes()
        if window.cursor is None:
            cursor = self._position(window, ("attendance-records",))
            empty = True
            for rows in self._pages("attendance-records", "attendanceRecords"):
                empty = False
                yield Page([mark_record(row, codes) for row in rows], None, cursor)
            if empty:
                yield Page([], None, cursor)  # the cursor, with no mark
            return
        after = self._after(window)
        log_ = self._changelog("attendance-records", after)
        cursor = str(log_.current)
        deleted: set[str] = set()
        missing: set[str] = set()
        batch: list[AttendanceMarkRecord] = []
        yielded = False
        for chunk in self._changed_ids(log_.changes, deleted):
            rows = self._by_id("attendance-records", "attendanceRecords", chunk)
            missing.update(set(chunk) - {ref_id(row) for row in rows})
            batch.extend(mark_record(row, codes) for row in rows)
            while len(batch) >= self.options.page_size:
                yield Page(batch[: self.options.page_size], None, cursor)
                batch = batch[self.options.page_size :]
                yielded = True
        if batch or not yielded:
            yield Page(batch, None, cursor)  # the last marks, or only the cursor
        if deleted or missing:
            log.warning(
                "arbor attendance after revision %d: %d records deleted and %d changed records "
                "no longer served; the deletions stream removes deleted marks",
                after,
                len(deleted),
                len(missing - deleted),
            )

    def _changed_ids(
        self, changes: Iterable[Mapping[str, Any]], deleted: set[str]
    ) -> Iterator[list[str]]:
        """Chunks of the ids of records created or updated, each id once; the ids of deleted
        records are added to ``deleted`` (one deleted before its chunk is read is not read)."""
        limit = min(ID_CHUNK, self.options.page_size)
        pending: dict[str, None] = {}  # insertion-ordered
        seen: set[str] = set()
        for change in changes:
            kind = str(change.get("changeType") or "").lower()
            record_id = ref_id(change.get("changedObject"))
            if record_id is None:
                continue
            if kind == "delete":
                deleted.add(record_id)
                pending.pop(record_id, None)
            elif kind in {"create", "update"} and record_id not in seen:
                seen.add(record_id)
                pending[record_id] = None
                if len(pending) >= limit or sum(map(len, pending)) + len(pending) > ID_CHUNK_CHARS:
                    yield list(pending)
                    pending.clear()
        if pending:
            yield list(pending)

    # -- deletions ------------------------------------------------------------------------

    def _fetch_deletions(self, window: Window) -> Iterator[Page]:
        """Deleted students (pupil deletions) and deleted attendance records (mark deletions).

        Revisions number the school's changes as a whole, so both changelogs are read after
        the same revision; the cursor is the lower of their current revisions (a change seen
        twice is applied twice, harmlessly; one never seen would be lost). A full read (no
        cursor) skips the marks' changelog, which holds every mark ever taken: a full read of
        attendance serves no deleted mark, and what a re-pull leaves stale is reconciliation's
        work, not a replay of the school's whole history.
        """
        after = self._after(window)
        records: list[Record] = []
        currents: list[int] = []
        sources = [("students", PUPIL_OBJECT)]
        if window.cursor is not None:
            sources.append(("attendance-records", MARK_OBJECT))
        for resource, object_type in sources:
            log_ = self._changelog(resource, after)
            currents.append(log_.current)
            records += _deletions(log_.changes, object_type)
        yield from self._paged(records, str(min(currents)))


def _deletions(changes: Iterable[Mapping[str, Any]], object_type: str) -> Iterator[DeletionRecord]:
    for change in changes:
        if str(change.get("changeType") or "").lower() == "delete":
            mis_id = ref_id(change.get("changedObject"))
            if mis_id is not None:
                yield DeletionRecord(object_type, mis_id, None)
