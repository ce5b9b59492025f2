"""DfE Common Transfer Files (CTF XML, version 20 or later) dropped into a folder.

Options (``adapter.options`` in the trust config):

- ``folder``: the academy's drop folder, an absolute path that must exist when a sync runs.
- ``pattern``: glob pattern of the CTF files inside the folder (default ``*.xml``).
- ``urn``: the academy's URN; when set, a file whose ``SourceSchool/URN`` differs (a file for
  another school dropped in the wrong folder, or a CTF received from a pupil's previous school)
  is rejected rather than read.
- ``fsm6_as_at``: the date FSM and FSM6 are judged on; by default the date of each file's
  ``Header/DateTime`` (when the MIS wrote it).
- ``page_size`` (default 2000).

A CTF carries no MIS id, so the UPN serves as the MIS id of a pupil and of everything about
them (a pupil without a UPN gets a placeholder naming the file and position, and the pipeline's
audit quarantines it and its rows). The academy is told apart from other schools named in a
file by ``Header/SourceSchool`` ``LEA`` + ``Estab`` (its 7-digit LAESTAB). Containers are looked
for directly under ``Pupil`` and then under ``Pupil/BasicDetails``, since vendors place them
differently; a container that is missing gives no rows (and unknown, None, pupil fields).

Streams, each read from every ``CTFpupilData/Pupil``:

- ``pupils``: ``UPN``, ``DOB``, ``Sex`` (or the older ``Gender``), ``NCyearActual``,
  ``FSMhistory/FSMinstance``, ``LookedAfter/InCare``, ``SENhistory/SEN``, an ``EAL`` flag if a
  vendor writes one, and admission and leaving dates from the latest (by ``EntryDate``)
  ``SchoolHistory/School`` entry of this academy (None without one).

  - ``fsm_eligible``: an FSM instance is open on the as-at date (started on or before it, with
    no end date or an end date on or after it).
  - ``fsm6``: an FSM instance started on or before the as-at date and ran on to (or is still
    open on) the earlier of six years before the as-at date and 1 April 2018. The six years
    are the DfE's "FSM at any time in the last six years", approximated by date overlap rather
    than census returns; 1 April 2018 is Universal Credit transitional protection.
  - ``sen_status``: the ``SENprovision`` (N, K or E) of the latest ``SEN`` entry by
    ``StartDate``.
  - ``previously_in_care`` and ``service_child``: the CTF elements for PLAC and service
    children are [unknown] here, so both stay None.

- ``characteristics``: one ``fsm`` period per ``FSMhistory/FSMinstance`` (``FSMstartDate``,
  ``FSMendDate``), all of a pupil's instances sent whole. A pupil whose ``FSMhistory`` is
  present but empty is listed in ``Page.covers``, so periods stored earlier are withdrawn; a
  pupil without the container leaves them as stored. ``LookedAfter`` has no dates, so it
  stays the pupil's ``in_care`` flag and gives no ``cla`` period.
- ``attendance_summaries``: one per ``Attendance/YearData`` (``Year`` is the year the academic
  year starts; ``LEA`` + ``Estab``; ``SessionsPossible``, ``SessionsAuthorised``,
  ``SessionsAttended``, ``SessionsUnauthorised``), previous schools' years included. A
  ``YearData`` with none of the four counts (marks only) gives no summary; one with some of
  them is an error. Two for the same year and school: the last written wins [unknown].
- ``assessments``: one per ``StageAssessments/KeyStage/StageAssessment`` of a KS2 or KS4
  ``Stage`` ("KS2", "KS 2", "2" and "Key Stage 2" all read as KS2); other stages (EYFS,
  phonics, KS1, KS3...) are skipped. ``Year``, ``Subject``, ``Method``, ``Component`` (""
  when absent) and ``Result`` as written; an entry without a ``Result`` is skipped. What
  ``Locale``, ``ResultStatus`` and ``ResultQualifier`` distinguish is [unknown] here, so they
  are not read; entries that agree on stage, year, subject, method and component: the last
  written wins.
- ``enrolments``: one per ``SchoolHistory/School`` entry whose ``LEA`` + ``Estab`` is this
  academy's (``EntryDate`` to ``LeavingDate``; registration None), all of a pupil's sent
  whole (a present ``SchoolHistory`` covers the pupil's set, as ``FSMhistory`` does).
  ``SchoolHistory`` is not in our CTF reference ([unknown]), so it is read tolerantly:
  no ``SchoolHistory``, no matching entry or an entry without an ``EntryDate`` gives nothing.
- ``attendance``: session marks from ``Attendance/YearData/AttendSessions`` of this academy's
  own ``YearData`` only: ``AttendanceMarks`` holds two characters per calendar day from
  ``AttendanceStartDate``, AM then PM; ``#`` (not in session) and blanks give no mark. How the
  2024 multi-character codes (C1, J1, Y1...) are written there is [unknown], so a file with a
  digit among its marks on or after 19 August 2024 is rejected rather than guessed at.

Contacts and everything else in the files are skipped unread. Files are parsed as a stream,
one pupil at a time, and a file with a DOCTYPE or entity declaration is rejected before
parsing (entity expansion attacks). Errors name the file, the element and the field, never a
value.

Incremental sync follows the CSV adapter: a file's watermark is its modification time, every
record from it carries that time, files are read newest first and a pupil (by UPN) read from a
newer file is skipped in older ones, for every stream: a pupil's sets come from one file.
Files need no secret; name any environment variable as ``credential``.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO, ClassVar

from pydantic import Field

from trustdata.adapters.base import (
    Adapter,
    AdapterError,
    AdapterOptions,
    Page,
    Record,
    Stream,
    Window,
)
from trustdata.adapters.drop_folder import existing_folder, files_after
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

log = logging.getLogger(__name__)

_DOCUMENT_NAME = "Common Transfer File"
_MIN_VERSION = 20
_PROLOG_LIMIT = 64 * 1024
_COMMENTS_AND_PIS = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
# Pupil children that hold fields we emit; the rest (contacts...) is dropped unread.
_USED = {"UPN", "DOB", "Sex", "Gender", "BasicDetails", "NCyearActual"}
_USED |= {"FSMhistory", "LookedAfter", "SENhistory", "EAL"}
_USED |= {"SchoolHistory", "Attendance", "StageAssessments"}
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


class CtfOptions(AdapterOptions):
    """Options of an academy that drops CTF XML files into a folder."""

    folder: Path = Field(description="the academy's drop folder (absolute path)")
    pattern: str = Field(default="*.xml", min_length=1)
    urn: str | None = Field(default=None, pattern=r"^\d{6}$")
    fsm6_as_at: date | None = None
    page_size: int = Field(default=2000, ge=1, le=100_000)


@dataclass(frozen=True, slots=True)
class _Header:
    """What a file's header says that the pupils are read with."""

    as_at: date  # FSM and FSM6 are judged on this date
    laestab: str | None  # the source school's LEA + Estab, None if not 3 + 4 digits


def _prolog(handle: IO[bytes], name: str) -> None:
    """Refuse DTDs: expat would expand internal entities, so a file could blow up memory."""
    head = handle.read(_PROLOG_LIMIT)
    handle.seek(0)
    if head.startswith((b"\xfe\xff", b"\xff\xfe")):
        raise AdapterError(f"{name}: UTF-16 files are not read (save the CTF as UTF-8)")
    head = _COMMENTS_AND_PIS.sub(b"", head)
    root = _ROOT_START.search(head)
    prolog = head if root is None else head[: root.start()]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise AdapterError(f"{name}: has a DOCTYPE or entity declaration, which CTFs never need")
    if root is None and len(head) == _PROLOG_LIMIT:
        raise AdapterError(f"{name}: no root element in the first {_PROLOG_LIMIT} bytes")


def _sections(path: Path) -> Generator[ET.Element, None, None]:
    """Yield ``Header`` and each ``CTFpupilData/Pupil`` complete, freeing each after use."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AdapterError(f"{path.name}: cannot be read ({exc.strerror})") from None
    with handle:
        _prolog(handle, path.name)
        stack: list[ET.Element] = []
        try:
            # Safe here: _prolog refused DTDs, and ElementTree never fetches external entities.
            for event, elem in ET.iterparse(handle, events=("start", "end")):  # noqa: S314
                if event == "start":
                    if not stack and elem.tag != "CTfile":
                        raise AdapterError(f"{path.name}: root element is not CTfile")
                    stack.append(elem)
                    continue
                stack.pop()
                depth, parent = len(stack), stack[-1] if stack else None
                in_pupils = depth >= 2 and stack[1].tag == "CTFpupilData"
                if depth == 1 or (depth == 2 and in_pupils):
                    if elem.tag in ("Header", "Pupil"):
                        yield elem
                elif not (depth == 3 and in_pupils and elem.tag not in _USED):
                    continue
                # Detach what is done with, so a file of thousands of pupils never piles up.
                assert parent is not None
                parent.remove(elem)
                elem.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            raise AdapterError(
                f"{path.name}: not well-formed XML at line {line}, column {column}"
            ) from None


def _text(parent: ET.Element | None, path: str = ".") -> str | None:
    text = parent.findtext(path) if parent is not None else None
    return (text.strip() or None) if text else None


def _laestab(parent: ET.Element | None) -> str | None:
    """``LEA`` + ``Estab`` as a 7-digit LAESTAB, or None unless they are 3 and 4 digits."""
    lea, estab = _text(parent, "LEA"), _text(parent, "Estab")
    if lea and estab and len(lea) == 3 and len(estab) == 4 and (lea + estab).isdigit():
        return lea + estab
    return None


def _key_stage(stage: str | None) -> str | None:
    found = _STAGE.fullmatch(re.sub(r"\s+", "", stage or "").upper())
    return f"KS{found.group(1)}" if found else None


def _first(pupil: ET.Element, path: str) -> ET.Element | None:
    found = pupil.find(path)
    return found if found is not None else pupil.find(f"BasicDetails/{path}")


class _Pupil:
    """Reads one Pupil element; errors name the file and element, never a value."""

    def __init__(self, elem: ET.Element, name: str, index: int) -> None:
        self.elem = elem
        self.where = f"{name}: CTFpupilData/Pupil[{index}]"
        upn = _text(elem, "UPN")
        self.upn = upn.upper() if upn else None
        self.mis_id = self.upn or f"{name}#Pupil[{index}]"

    def day(
        self, parent: ET.Element, tag: str, label: str, *, required: bool = False
    ) -> date | None:
        text = _text(parent, tag)
        if text is None:
            if required:
                raise AdapterError(f"{self.where}/{label} is empty")
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise AdapterError(f"{self.where}/{label} is not a YYYY-MM-DD date") from None

    def number(self, parent: ET.Element, tag: str, label: str) -> int | None:
        text = _text(parent, tag)
        if text is None:
            return None
        if not _WHOLE_NUMBER.fullmatch(text):
            raise AdapterError(f"{self.where}/{label} is not a whole number")
        return int(text)

    def required(self, parent: ET.Element, tag: str, label: str) -> str:
        text = _text(parent, tag)
        if text is None:
            raise AdapterError(f"{self.where}/{label} is empty")
        return text

    def year(self, parent: ET.Element, label: str) -> int:
        text = self.required(parent, "Year", f"{label}/Year")
        if not _YEAR.fullmatch(text):
            raise AdapterError(f"{self.where}/{label}/Year is not a four-digit year")
        return int(text)

    def fsm_periods(self) -> list[tuple[date, date | None]] | None:
        history = _first(self.elem, "FSMhistory")
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
        history = _first(self.elem, "SENhistory")
        if history is None:
            return None
        latest: tuple[date, int, str | None] | None = None
        for n, sen in enumerate(history.iterfind("SEN"), start=1):
            start = self.day(sen, "StartDate", f"SENhistory/SEN[{n}]/StartDate") or date.min
            # Undated entries rank by document order: the last one written wins.
            entry = (start, n, _text(sen, "SENprovision"))
            latest = entry if latest is None or entry[:2] > latest[:2] else latest
        return latest[2].upper() if latest and latest[2] else None

    def record(self, header: _Header, stamp: datetime) -> PupilRecord:
        periods = self.fsm_periods()
        fsm_eligible, fsm6 = (None, None) if periods is None else fsm_flags(periods, header.as_at)
        enrolments = sorted(self.enrolments(header, stamp), key=lambda e: e.start_date)
        latest = enrolments[-1] if enrolments else None
        return PupilRecord(
            mis_id=self.mis_id,
            upn=self.upn,
            date_of_birth=self.day(self.elem, "DOB", "DOB"),
            gender=_text(self.elem, "Sex") or _text(self.elem, "Gender"),
            nc_year=parse_nc_year(_text(_first(self.elem, "NCyearActual"))),
            fsm_eligible=fsm_eligible,
            fsm6=fsm6,
            in_care=parse_flag(_text(_first(self.elem, "LookedAfter"), "InCare")),
            previously_in_care=None,
            service_child=None,
            sen_status=self.sen(),
            eal=parse_eal(_text(_first(self.elem, "EAL"))),
            admission_date=latest.start_date if latest else None,
            leaving_date=latest.end_date if latest else None,
            source_updated_at=stamp,
        )

    def characteristics(self, header: _Header, stamp: datetime) -> list[Record]:
        return [
            CharacteristicPeriodRecord(self.mis_id, "fsm", start, end, stamp)
            for start, end in self.fsm_periods() or []
        ]

    def summaries(self, header: _Header, stamp: datetime) -> list[Record]:
        attendance = _first(self.elem, "Attendance")
        found: dict[tuple[int, str], Record] = {}
        for n, year in enumerate(() if attendance is None else attendance.iterfind("YearData"), 1):
            label = f"Attendance/YearData[{n}]"
            counts = {tag: self.number(year, tag, f"{label}/{tag}") for tag in _SESSION_COUNTS}
            if all(count is None for count in counts.values()):
                continue  # no totals written (marks only)
            for tag, count in counts.items():
                if count is None:
                    raise AdapterError(f"{self.where}/{label}/{tag} is empty")
            school = _laestab(year)
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

    def assessments(self, header: _Header, stamp: datetime) -> list[Record]:
        container = _first(self.elem, "StageAssessments")
        found: dict[tuple[str, int, str, str, str], Record] = {}
        stages = () if container is None else container.iterfind("KeyStage")
        for k, stage in enumerate(stages, 1):
            key_stage = _key_stage(_text(stage, "Stage"))
            if key_stage is None or key_stage not in _STAGES_READ:
                continue
            for n, item in enumerate(stage.iterfind("StageAssessment"), 1):
                label = f"StageAssessments/KeyStage[{k}]/StageAssessment[{n}]"
                result = _text(item, "Result")
                if result is None:
                    continue
                key = (
                    key_stage,
                    self.year(item, label),
                    self.required(item, "Subject", f"{label}/Subject"),
                    self.required(item, "Method", f"{label}/Method"),
                    _text(item, "Component") or "",
                )
                found[key] = AssessmentResultRecord(self.mis_id, *key, result, stamp)
        return list(found.values())

    def enrolments(self, header: _Header, stamp: datetime) -> list[EnrolmentRecord]:
        history = _first(self.elem, "SchoolHistory")
        found: dict[date, EnrolmentRecord] = {}
        schools = () if history is None or header.laestab is None else history.iterfind("School")
        for n, school in enumerate(schools, 1):
            if _laestab(school) != header.laestab:
                continue  # another school's entry
            label = f"SchoolHistory/School[{n}]"
            start = self.day(school, "EntryDate", f"{label}/EntryDate")
            if start is None:
                continue
            end = self.day(school, "LeavingDate", f"{label}/LeavingDate")
            found[start] = EnrolmentRecord(self.mis_id, start, end, None, stamp)
        return list(found.values())

    def marks(self, header: _Header, stamp: datetime) -> Iterator[Record]:
        attendance = _first(self.elem, "Attendance")
        for n, year in enumerate(() if attendance is None else attendance.iterfind("YearData"), 1):
            if _laestab(year) != header.laestab:
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


_Reader = Callable[[_Pupil, _Header, datetime], Iterable[Record]]
#: What each stream reads from a pupil.
_READERS: dict[Stream, _Reader] = {
    Stream.PUPILS: lambda pupil, header, stamp: [pupil.record(header, stamp)],
    Stream.ENROLMENTS: _Pupil.enrolments,
    Stream.CHARACTERISTICS: _Pupil.characteristics,
    Stream.ATTENDANCE: _Pupil.marks,
    Stream.ATTENDANCE_SUMMARIES: _Pupil.summaries,
    Stream.ASSESSMENTS: _Pupil.assessments,
}
#: Streams that cannot tell this academy's rows from other schools' without the header's LAESTAB.
_NEED_LAESTAB = (Stream.ENROLMENTS, Stream.ATTENDANCE)


class CtfAdapter(Adapter[CtfOptions]):
    """Pupils, enrolments, FSM periods, marks, attendance totals and results from CTF files."""

    kind: ClassVar[str] = "ctf"
    streams: ClassVar[frozenset[Stream]] = frozenset(_READERS)
    Options: ClassVar[type[AdapterOptions]] = CtfOptions

    def _folder(self) -> Path:
        return existing_folder(self.options.folder)

    def _files(self, window: Window) -> list[tuple[datetime, Path]]:
        return files_after(self.options.folder, self.options.pattern, window.updated_after)

    def check_connection(self) -> None:
        """The folder is readable and its newest CTF has a header this adapter accepts."""
        folder = self._folder()
        if not os.access(folder, os.R_OK | os.X_OK):
            raise AdapterError(
                f"option 'folder': {folder} is not readable by this process (check permissions)"
            )
        files = self._files(Window())
        if not files:
            raise AdapterError(
                f"option 'folder': no file matches {self.options.pattern!r} "
                "(check that the MIS saves its CTF exports there, or set pattern)"
            )
        newest = files[-1][1]
        sections = _sections(newest)
        try:
            self._header(newest, sections)
        finally:
            sections.close()

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of ``stream`` from files modified after ``window.updated_after``.

        A file that gives no rows still yields an empty page with its time, so the watermark
        moves past it.
        """
        if stream not in _READERS:
            raise AdapterError(f"the ctf adapter has no stream {stream.value!r}")
        seen: set[str] = set()
        for stamp, path in reversed(self._files(window)):
            in_file: set[str] = set()
            covers: set[tuple[str, str]] = set()
            records = self._records(stream, path, stamp, seen, in_file, covers)
            empty = True
            while page := list(islice(records, self.options.page_size)):
                empty = False
                yield Page(page, stamp)
            if empty or covers:
                # The sets this file holds whole, empty ones included (see Page.covers).
                yield Page([], stamp, covers=sorted(covers))
            skipped = len(in_file & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            seen |= in_file

    def _records(
        self,
        stream: Stream,
        path: Path,
        stamp: datetime,
        seen: set[str],
        in_file: set[str],
        covers: set[tuple[str, str]],
    ) -> Iterator[Record]:
        sections = _sections(path)
        header = self._header(path, sections)
        if header.laestab is None and stream in _NEED_LAESTAB:
            raise AdapterError(
                f"{path.name}: Header/SourceSchool/LEA and Estab (3 and 4 digits) are needed "
                f"to tell this academy's {stream.value} from other schools'"
            )
        read = _READERS[stream]
        for index, elem in enumerate(sections, start=1):
            if elem.tag != "Pupil":
                raise AdapterError(f"{path.name}: a second Header after the pupils")
            pupil = _Pupil(elem, path.name, index)
            in_file.add(pupil.mis_id)
            if pupil.mis_id in seen:
                continue
            # A container that is present holds the pupil's whole set, even with no entries.
            if stream is Stream.CHARACTERISTICS and _first(elem, "FSMhistory") is not None:
                covers.add((pupil.mis_id, "fsm"))
            elif stream is Stream.ENROLMENTS and _first(elem, "SchoolHistory") is not None:
                covers.add((pupil.mis_id, ""))
            yield from read(pupil, header, stamp)

    def _header(self, path: Path, sections: Iterator[ET.Element]) -> _Header:
        """Check the header that must open the file; return what pupils are read with."""
        name = path.name
        header = next(sections, None)
        if header is None or header.tag != "Header":
            raise AdapterError(f"{name}: no Header before the pupils (not a CTF?)")
        if _text(header, "DocumentName") != _DOCUMENT_NAME:
            raise AdapterError(f"{name}: Header/DocumentName is not {_DOCUMENT_NAME!r}")
        version = _text(header, "CTFversion") or ""
        major = version.partition(".")[0]
        if not major.isdigit() or int(major) < _MIN_VERSION:
            raise AdapterError(
                f"{name}: Header/CTFversion is {version[:20]!r}; CTF {_MIN_VERSION} or later "
                "is needed (export the CTF again from an up-to-date MIS)"
            )
        source = header.find("SourceSchool")
        found = _text(source, "URN")
        if self.options.urn is not None and found != self.options.urn:
            raise AdapterError(
                f"{name}: Header/SourceSchool/URN is {(found or '')[:10]!r}, not the "
                f"academy's {self.options.urn} (option 'urn'): a file for another school?"
            )
        if self.options.fsm6_as_at is not None:
            return _Header(self.options.fsm6_as_at, _laestab(source))
        try:
            as_at = datetime.fromisoformat(_text(header, "DateTime") or "").date()
        except ValueError:
            raise AdapterError(
                f"{name}: Header/DateTime is missing or not an ISO date-time "
                "(set option 'fsm6_as_at' to judge FSM on a fixed date)"
            ) from None
        return _Header(as_at, _laestab(source))
