"""Arbor's REST API (``/rest-v2``), one host per school, read through its changelog.

Wire format: ``../shared/reference/mis-wire-formats.md`` ("Arbor REST") and the sandbox's
``services/sandbox_mis/README.md`` ("Arbor-style API"). Arbor has no ``updated_after`` filter;
it numbers every change with a revision instead, so this adapter is a *change-log* source:
pages carry ``cursor`` (the school's ``currentRevision``, as text) and no ``watermark``.

Streams:

- pupils: always a full read of the (small) roll, joined in memory by student id from
  ``students``, ``persons``, ``ukdfe-upn-assignments``, ``ukdfe-free-school-meal-eligibilities``,
  ``ukdfe-pupil-premium-recipients`` and ``in-care-status-assignments``. With a cursor, the
  ``students`` changelog is read first and nothing is yielded when it holds no change.
- attendance: the ``attendance-marks`` code table, then ``attendance-records`` in full (the
  cursor is read *before* the read starts, so changes made during it are read again next
  time), or, with a cursor, the created and updated records the changelog names, each read on
  its own. Deleted marks are not reported (no stream carries them yet).
- deletions: the ``students`` changelog's ``delete`` changes, as pupil deletions.

FSM, FSM6 and care are judged on today's date (``date.today()``): Arbor gives no "as at" date.
FSM6 is an eligibility period that started by today and ran on to (or is still open on) the
earlier of six years ago and 1 April 2018 (Universal Credit transitional protection), as in the
CTF adapter. SEN and EAL are not read yet (None).

Tolerance, where the sandbox's shapes are [unknown] for real Arbor: a reference's id is its
``id`` field (a sandbox addition) or else the last segment of its ``href``; a list body is the
expected camel-cased key or else the body's only list; dates are read from their first ten
characters (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``); ``changeType`` is compared
case-insensitively; an unknown gender spelling gives None. Paging has no metadata: a list is
read page by page (``page-number`` from 1) until a page is empty, and changelog pages are
pinned to the ``currentRevision`` of their first page.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from trustdata.adapters.base import AdapterError, AdapterOptions, Page, Stream, Window
from trustdata.adapters.rest import RestAdapter, RestOptions
from trustdata.adapters.values import parse_flag, parse_nc_year
from trustdata.domain.disadvantage import fsm_flags
from trustdata.domain.records import AttendanceMarkRecord, DeletionRecord, PupilRecord

_GENDERS = {"MALE": "M", "M": "M", "FEMALE": "F", "F": "F"}


class ArborOptions(RestOptions):
    """Options of an academy on Arbor."""

    base_url: str = Field(
        pattern=r"^https?://",
        description="the school's Arbor host (in the sandbox: root URL + '/' + school id)",
    )
    username: str = Field(min_length=1, description="the HTTP Basic user of the API account")
    page_size: int = Field(default=500, ge=1, le=1000)


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


def _open_on(row: Mapping[str, Any], day: date, start: str, end: str) -> bool:
    began, ended = parse_day(row.get(start)), parse_day(row.get(end))
    return (began is None or began <= day) and (ended is None or ended >= day)


@dataclass
class _Pupil:
    """What the roll's resources say about one student, collected before the join."""

    student: Mapping[str, Any]
    person: Mapping[str, Any] = field(default_factory=dict)
    upns: list[Mapping[str, Any]] = field(default_factory=list)
    fsm: list[Mapping[str, Any]] = field(default_factory=list)
    premium: list[Mapping[str, Any]] = field(default_factory=list)
    care: list[Mapping[str, Any]] = field(default_factory=list)

    def upn(self, today: date) -> str | None:
        """The current UPN: an open assignment, permanent before temporary, latest first."""
        current = [
            row
            for row in self.upns
            if row.get("upn") and _open_on(row, today, "startDatetime", "endDatetime")
        ] or [row for row in self.upns if row.get("upn")]
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

    def fsm_flags(self, today: date) -> tuple[bool, bool]:
        """(eligible today, FSM6) from the eligibility periods."""
        periods = ((parse_day(r.get("startDate")), parse_day(r.get("endDate"))) for r in self.fsm)
        return fsm_flags(periods, today)

    def care_flags(self, today: date) -> tuple[bool, bool]:
        """(in care today, previously looked after) from the care status assignments."""
        in_care = previously = False
        for row in self.care:
            status = str(row.get("careStatus") or "").upper()
            if status == "IN_CARE" and _open_on(row, today, "startDate", "endDate"):
                in_care = True
            elif status == "IN_CARE" or "PREVIOUSLY" in status or "POST" in status:
                previously = True
        return in_care, previously

    def record(self, mis_id: str, today: date) -> PupilRecord:
        """The canonical pupil record (names are left behind)."""
        fsm_eligible, fsm6 = self.fsm_flags(today)
        in_care, previously = self.care_flags(today)
        gender = self.person.get("gender")
        return PupilRecord(
            mis_id=mis_id,
            upn=self.upn(today),
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


def _list_of(body: object, key: str, resource: str) -> list[Mapping[str, Any]]:
    if isinstance(body, Mapping):
        found = body.get(key)
        if found is None:
            lists = [value for value in body.values() if isinstance(value, list)]
            found = lists[0] if len(lists) == 1 else None
        if isinstance(found, list):
            return [row for row in found if isinstance(row, Mapping)]
    raise AdapterError(f"{resource}: expected a JSON object with a '{key}' list")


def _camel(resource: str) -> str:
    head, *rest = resource.split("-")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


@dataclass
class _Changelog:
    """The changes of one resource after a revision, and the revision they run to."""

    current: int
    changes: Iterator[Mapping[str, Any]]


class ArborAdapter(RestAdapter[ArborOptions]):
    """Pupils, session attendance and pupil deletions from one school's Arbor host."""

    kind: ClassVar[str] = "arbor"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {Stream.PUPILS, Stream.ATTENDANCE, Stream.DELETIONS}
    )
    Options: ClassVar[type[AdapterOptions]] = ArborOptions

    @property
    def _headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.options.username}:{self._secret}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _url(self, resource: str) -> str:
        return f"{self.options.base_url.rstrip('/')}/rest-v2/{resource}"

    def _read(self, resource: str, params: dict[str, str] | None = None) -> object:
        return self._get(self._url(resource), headers=self._headers, params=params)

    def _pages(
        self, resource: str, key: str, params: dict[str, str] | None = None
    ) -> Iterator[list[Mapping[str, Any]]]:
        """Read a list page by page until a page is empty."""
        number = 1
        while True:
            query = {**(params or {}), "page-number": str(number)}
            query["page-size"] = str(self.options.page_size)
            rows = _list_of(self._read(resource, query), key, resource)
            if not rows:
                return
            yield rows
            number += 1

    def _all(self, resource: str) -> list[Mapping[str, Any]]:
        return [row for rows in self._pages(resource, _camel(resource)) for row in rows]

    def _changelog(self, resource: str, after: int) -> _Changelog:
        """Open the changelog after ``after``; later pages are pinned to the first's revision."""
        path = f"{resource}/changelog"
        size = str(self.options.page_size)
        first = self._read(path, {"from-revision": str(after), "page-size": size})
        if not isinstance(first, Mapping) or not isinstance(first.get("changes"), list):
            raise AdapterError(f"{path}: expected a JSON object with a 'changes' list")
        try:
            current = int(first.get("currentRevision", after))
        except (TypeError, ValueError):
            raise AdapterError(f"{path}: currentRevision is not a whole number") from None

        def changes() -> Iterator[Mapping[str, Any]]:
            rows = _list_of(first, "changes", path)
            number = 1
            while rows:
                yield from rows
                number += 1
                query = {
                    "from-revision": str(after),
                    "to-revision": str(current),
                    "page-number": str(number),
                    "page-size": size,
                }
                rows = _list_of(self._read(path, query), "changes", path)

        return _Changelog(current, changes())

    @staticmethod
    def _after(window: Window) -> int:
        if window.cursor is None:
            return 0
        try:
            return int(window.cursor)
        except ValueError:
            raise AdapterError(
                "the stored Arbor cursor is not a revision number; clear it for a full pull"
            ) from None

    def source_key(self) -> str:
        """The school's host: another host is another change history."""
        return f"arbor:{self.options.base_url.rstrip('/')}"

    def check_connection(self) -> None:
        """Read one student: proves the host, the user and the password."""
        self._read("students", {"page-size": "1"})

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of pupils, attendance marks or pupil deletions, each with a cursor."""
        if stream is Stream.PUPILS:
            yield from self._fetch_pupils(window)
        elif stream is Stream.ATTENDANCE:
            yield from self._fetch_attendance(window)
        elif stream is Stream.DELETIONS:
            yield from self._fetch_deletions(window)
        else:  # pragma: no cover - guarded by ``streams``
            raise AdapterError(f"the arbor adapter has no stream {stream!r}")

    # -- pupils ---------------------------------------------------------------------------

    def _fetch_pupils(self, window: Window) -> Iterator[Page]:
        log = self._changelog("students", self._after(window))
        if window.cursor is not None and next(log.changes, None) is None:
            return  # nothing changed since the last batch
        cursor = str(log.current)
        today = date.today()
        pupils: dict[str, _Pupil] = {}
        for row in self._all("students"):
            sid = ref_id(row)
            if sid is not None:
                pupils[sid] = _Pupil(row)
        persons = {ref_id(row): row for row in self._all("persons")}
        for pupil in pupils.values():
            pupil.person = persons.get(ref_id(pupil.student.get("person")), {})
        for resource, attr in (
            ("ukdfe-upn-assignments", "upns"),
            ("ukdfe-free-school-meal-eligibilities", "fsm"),
            ("ukdfe-pupil-premium-recipients", "premium"),
            ("in-care-status-assignments", "care"),
        ):
            for row in self._all(resource):
                owner = pupils.get(ref_id(row.get("student")) or "")
                if owner is not None:
                    getattr(owner, attr).append(row)
        records = [pupil.record(sid, today) for sid, pupil in pupils.items()]
        size = self.options.page_size
        for start in range(0, len(records), size):
            yield Page(records[start : start + size], None, cursor)

    # -- attendance -----------------------------------------------------------------------

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
            # The cursor first: changes made while the full read runs are read again next time.
            cursor = str(self._changelog("attendance-records", 0).current)
            for rows in self._pages("attendance-records", "attendanceRecords"):
                yield Page([mark_record(row, codes) for row in rows], None, cursor)
            return
        log = self._changelog("attendance-records", self._after(window))
        cursor = str(log.current)
        seen: set[str] = set()
        batch: list[AttendanceMarkRecord] = []
        for change in log.changes:
            kind = str(change.get("changeType") or "").lower()
            record_id = ref_id(change.get("changedObject"))
            if kind not in {"create", "update"} or record_id is None or record_id in seen:
                continue
            seen.add(record_id)
            body = self._read(f"attendance-records/{record_id}")
            row = body.get("attendanceRecord") if isinstance(body, Mapping) else None
            if not isinstance(row, Mapping):
                raise AdapterError(
                    "attendance-records/{id}: expected an object wrapped by 'attendanceRecord'"
                )
            batch.append(mark_record(row, codes))
            if len(batch) >= self.options.page_size:
                yield Page(batch, None, cursor)
                batch = []
        if batch:
            yield Page(batch, None, cursor)

    # -- deletions ------------------------------------------------------------------------

    def _fetch_deletions(self, window: Window) -> Iterator[Page]:
        log = self._changelog("students", self._after(window))
        cursor = str(log.current)
        records = list(_deletions(log.changes))
        size = self.options.page_size
        for start in range(0, len(records), size):
            yield Page(records[start : start + size], None, cursor)


def _deletions(changes: Iterable[Mapping[str, Any]]) -> Iterator[DeletionRecord]:
    for change in changes:
        if str(change.get("changeType") or "").lower() == "delete":
            mis_id = ref_id(change.get("changedObject"))
            if mis_id is not None:
                yield DeletionRecord("pupil", mis_id, None)


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
