"""Wonde-style REST aggregator (SIMS, Arbor, Bromcom, iSAMS, ScholarPack schools behind it).

Wire format: ``../shared/reference/mis-wire-formats.md``. Where the format is not documented the
adapter is tolerant: relations may be a bare id or an include object, dates a string or a PHP
DateTime object, flags any of true/false, "true"/"false", "Y"/"N", "T"/"F", 1/0 or null. It
follows ``meta.pagination.next`` verbatim and never builds page URLs itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
import msgspec
from pydantic import Field

from trustdata.adapters.base import (
    AdapterError,
    AdapterOptions,
    Page,
    Stream,
    Window,
    enrolment_pages,
)
from trustdata.adapters.rest import RestAdapter, RestOptions
from trustdata.adapters.values import parse_eal, parse_flag, parse_nc_year
from trustdata.domain.records import AttendanceMarkRecord, DeletionRecord, PupilRecord

_STUDENT_INCLUDES = "education_details,extended_details"


class WondeOptions(RestOptions):
    """Options of a Wonde-connected academy."""

    school_id: str = Field(pattern=r"^A\d+$", description="Wonde's id of the school (A + digits)")
    base_url: str = Field(default="https://api.wonde.com/v1.0", pattern=r"^https?://")
    per_page: int = Field(default=500, ge=1, le=1000)


def parse_timestamp(value: Any) -> datetime | None:
    """Parse a Wonde timestamp: a PHP DateTime object, a string, or null."""
    if value is None:
        return None
    zone = "UTC"
    if isinstance(value, Mapping):
        zone = value.get("timezone") or "UTC"
        value = value.get("date")
        if value is None:
            return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone))
    return parsed


def parse_date(value: Any) -> date | None:
    """Parse a pure date from a DateTime object or a string (its first 10 characters)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("date")
        if value is None:
            return None
    return date.fromisoformat(str(value)[:10])


def _included(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    wrapper = record.get(name) or {}
    data = wrapper.get("data", wrapper) if isinstance(wrapper, Mapping) else {}
    return data if isinstance(data, Mapping) else {}


def _relation_id(value: Any) -> str:
    if isinstance(value, Mapping):
        value = _included({"x": value}, "x").get("id", value.get("id"))
    return str(value)


# gc=False: decoded JSON holds no reference cycles, and a page is 1,000 marks of these.
class _PhpTime(msgspec.Struct, frozen=True, gc=False):
    """A PHP DateTime object as Wonde writes it (hashable: pages cache what it parses to)."""

    date: str | None = None
    timezone: str | None = None


class _WireMark(msgspec.Struct, gc=False):
    """The fields of a session mark the adapter reads; the others are skipped unparsed."""

    id: str | int | None = None
    student: str | int | dict[str, Any] | None = None
    date: str | _PhpTime | None = None
    session: str | None = ""
    attendance_code: str | int | dict[str, Any] | None = None
    updated_at: str | _PhpTime | None = None


class _Pagination(msgspec.Struct):
    next: str | None = None
    more: bool | None = True


class _Meta(msgspec.Struct):
    pagination: _Pagination | None = None


class _MarkPage(msgspec.Struct):
    data: list[_WireMark]
    meta: _Meta | None = None


_MARK_PAGE = msgspec.json.Decoder(_MarkPage)


def _decode_marks(response: httpx.Response) -> object:
    """A page of marks decoded straight into the fields the adapter reads (the hot path).

    A body of any other shape, or one that is not valid JSON, goes through
    ``response.json()`` and the tolerant reading of every other resource, so both paths
    accept and refuse the same bodies.
    """
    try:
        return _MARK_PAGE.decode(response.content)
    except msgspec.MsgspecError:
        return response.json()


def _php_mapping(value: str | _PhpTime | None) -> Any:
    if isinstance(value, _PhpTime):
        return {"date": value.date, "timezone": value.timezone}
    return value


def pupil_record(student: Mapping[str, Any]) -> PupilRecord:
    """Turn a Wonde student into a canonical pupil record (names are left behind)."""
    education = _included(student, "education_details")
    extended = _included(student, "extended_details")
    upn = education.get("upn")
    return PupilRecord(
        mis_id=str(student["id"]),
        upn=str(upn).strip().upper() if upn else None,
        date_of_birth=parse_date(student.get("date_of_birth")),
        gender=student.get("gender"),
        nc_year=parse_nc_year(education.get("current_nc_year")),
        fsm_eligible=parse_flag(extended.get("free_school_meals")),
        fsm6=parse_flag(extended.get("free_school_meals_6")),
        in_care=parse_flag(extended.get("in_lea_care")),
        previously_in_care=parse_flag(extended.get("ever_in_care")),
        service_child=parse_flag(extended.get("service_children_indicator")),
        sen_status=extended.get("sen_status"),
        eal=parse_eal(
            extended.get("english_as_additional_language_status")
            or extended.get("english_as_additional_language")
        ),
        admission_date=parse_date(education.get("admission_date")),
        leaving_date=parse_date(education.get("leaving_date")),
        source_updated_at=parse_timestamp(student.get("updated_at")),
    )


class WondeAdapter(RestAdapter[WondeOptions]):
    """Pupils, enrolments, session attendance and deletions through a Wonde-style aggregator."""

    kind: ClassVar[str] = "wonde"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {Stream.PUPILS, Stream.ENROLMENTS, Stream.ATTENDANCE, Stream.DELETIONS}
    )
    complete_reads: ClassVar[frozenset[Stream]] = frozenset({Stream.PUPILS, Stream.ATTENDANCE})
    Options: ClassVar[type[AdapterOptions]] = WondeOptions

    def _url(self, resource: str) -> str:
        return f"{self.options.base_url.rstrip('/')}/schools/{self.options.school_id}/{resource}"

    def _pages(
        self,
        resource: str,
        params: dict[str, str],
        decode: Callable[[httpx.Response], object] | None = None,
    ) -> Iterator[list[Any]]:
        headers = {"Authorization": f"Bearer {self._secret}", "Accept": "application/json"}
        url: str | None = self._url(resource)
        query: dict[str, str] | None = {**params, "per_page": str(self.options.per_page)}
        while url:
            body = self._get(url, headers=headers, params=query, decode=decode)
            if isinstance(body, _MarkPage):
                yield body.data
                paging = body.meta.pagination if body.meta else None
                url = paging.next if paging is not None and paging.more else None
                query = None
                continue
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise AdapterError(f"{resource}: expected a JSON object with a 'data' list")
            yield body["data"]
            pagination = (body.get("meta") or {}).get("pagination") or {}
            url = pagination.get("next") if pagination.get("more", True) else None
            query = None  # the next link carries the query; never rebuild it

    @staticmethod
    def _filter(window: Window) -> dict[str, str]:
        if window.updated_after is None:
            return {}
        moment = window.updated_after.astimezone(UTC)
        return {"updated_after": moment.strftime("%Y-%m-%d %H:%M:%S")}

    def source_key(self) -> str:
        """The aggregator's host and the school: a change of either is a new history."""
        return f"wonde:{self.options.base_url.rstrip('/')}:{self.options.school_id}"

    def check_connection(self) -> None:
        """Read the school record: proves the base URL, the school id and the token."""
        self._get(
            f"{self.options.base_url.rstrip('/')}/schools/{self.options.school_id}",
            headers={"Authorization": f"Bearer {self._secret}"},
        )

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of pupils (current and leavers) or of attendance marks."""
        if stream is Stream.PUPILS:
            yield from self._fetch_pupils(window)
        elif stream is Stream.ENROLMENTS:
            # Wonde's students carry admission and leaving dates, not enrolment periods.
            yield from enrolment_pages(self._fetch_pupils(window))
        elif stream is Stream.ATTENDANCE:
            yield from self._fetch_attendance(window)
        elif stream is Stream.DELETIONS:
            yield from self._fetch_deletions(window)
        else:  # pragma: no cover - guarded by ``streams``
            raise AdapterError(f"the wonde adapter has no stream {stream!r}")

    def _fetch_pupils(self, window: Window) -> Iterator[Page]:
        params = {"include": _STUDENT_INCLUDES, **self._filter(window)}
        for resource in ("students", "students-leaver"):
            for rows in self._pages(resource, params):
                records = [pupil_record(row) for row in rows]
                yield Page(records, _latest(r.source_updated_at for r in records))

    def _fetch_deletions(self, window: Window) -> Iterator[Page]:
        params = {"type": "student", **self._filter(window)}
        for rows in self._pages("deletions", params):
            records = [
                DeletionRecord(
                    object_type="pupil",
                    mis_id=str(row["id"]),
                    deleted_at=parse_timestamp(row.get("deleted_at") or row.get("updated_at")),
                )
                for row in rows
                if str(row.get("type", "student")) == "student"
            ]
            stamps = (
                parse_timestamp(row.get("updated_at") or row.get("deleted_at")) for row in rows
            )
            yield Page(records, _latest(stamps))

    def code_table(self) -> list[str]:
        """The school's register codes, as its code table lists them."""
        return sorted(set(self._codes().values()))

    def _codes(self) -> dict[str, str]:
        codes: dict[str, str] = {}
        for rows in self._pages("attendance-codes", {}):
            for row in rows:
                codes[str(row["id"])] = str(row["code"])
        return codes

    def _fetch_attendance(self, window: Window) -> Iterator[Page]:
        codes = self._codes()
        for rows in self._pages("attendance/session", self._filter(window), _decode_marks):
            if rows and isinstance(rows[0], _WireMark):
                records = _mark_records(rows, codes)
                yield Page(records, _latest(r.source_updated_at for r in records))
                continue
            records = []
            for row in rows:
                code_ref = _relation_id(row.get("attendance_code"))
                mark_date = parse_date(row.get("date"))
                if mark_date is None:
                    raise AdapterError("attendance/session: a mark has no date")
                records.append(
                    AttendanceMarkRecord(
                        mis_mark_id=str(row["id"]) if row.get("id") is not None else None,
                        mis_pupil_id=_relation_id(row.get("student")),
                        mark_date=mark_date,
                        session=str(row.get("session", "")).upper(),
                        # An id the code list does not know is kept as-is: audit reports it.
                        source_code=codes.get(code_ref, code_ref),
                        source_updated_at=parse_timestamp(row.get("updated_at")),
                    )
                )
            yield Page(records, _latest(r.source_updated_at for r in records))


def _mark_records(rows: list[_WireMark], codes: dict[str, str]) -> list[AttendanceMarkRecord]:
    """Canonical marks from a decoded page: the same values as the tolerant path gives.

    A page's marks share a few dates and times, so each distinct one is parsed once per page
    (per page, so the caches cannot grow with the extract).
    """
    days: dict[Any, date | None] = {}
    stamps: dict[Any, datetime | None] = {}
    records = []
    for row in rows:
        on = row.date
        mark_date = days.get(on, _UNSET)
        if mark_date is _UNSET:
            mark_date = days[on] = parse_date(_php_mapping(on))
        if mark_date is None:
            raise AdapterError("attendance/session: a mark has no date")
        updated = row.updated_at
        stamp = stamps.get(updated, _UNSET)
        if stamp is _UNSET:
            stamp = stamps[updated] = parse_timestamp(_php_mapping(updated))
        student, code_ref, mark_id = row.student, row.attendance_code, row.id
        if type(code_ref) is not str:
            code_ref = _relation_id(code_ref)
        records.append(
            # A NamedTuple's own __new__ (keywords and all) costs more than the rest of the loop.
            tuple.__new__(
                AttendanceMarkRecord,
                (
                    mark_id if type(mark_id) is str or mark_id is None else str(mark_id),
                    student if type(student) is str else _relation_id(student),
                    mark_date,
                    str(row.session).upper(),
                    codes.get(code_ref, code_ref),
                    stamp,
                ),
            )
        )
    return records


#: A cache miss (None is a cached value: a mark without an update time).
_UNSET: Any = object()


def _latest(stamps: Iterator[datetime | None]) -> datetime | None:
    present = [stamp for stamp in stamps if stamp is not None]
    return max(present) if present else None
