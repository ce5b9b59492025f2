"""DfE Common Transfer Files (CTF XML, version 20 or later) dropped into a folder: pupils only.

Options (``adapter.options`` in the trust config):

- ``folder``: the academy's drop folder, an absolute path that must exist when a sync runs.
- ``pattern``: glob pattern of the CTF files inside the folder (default ``*.xml``).
- ``urn``: the academy's URN; when set, a file whose ``SourceSchool/URN`` differs (a file for
  another school dropped in the wrong folder, or a CTF received from a pupil's previous school)
  is rejected rather than read.
- ``fsm6_as_at``: the date FSM and FSM6 are judged on; by default the date of each file's
  ``Header/DateTime`` (when the MIS wrote it).
- ``page_size`` (default 2000).

Each ``CTFpupilData/Pupil`` becomes one pupil record. A CTF carries no MIS id, so the UPN
serves as the MIS id (a pupil without a UPN gets a placeholder naming the file and position,
and the pipeline's audit quarantines it). Fields read: ``UPN``, ``DOB``, ``Sex`` (or the older
``Gender``), ``NCyearActual``, ``FSMhistory/FSMinstance``, ``LookedAfter/InCare``,
``SENhistory/SEN`` and an ``EAL`` flag if a vendor writes one; each is looked for directly under
``Pupil`` and then under ``Pupil/BasicDetails``, since vendors place containers differently.
A container that is missing leaves its fields unknown (None), not False.

- ``fsm_eligible``: an FSM instance is open on the as-at date (started on or before it, with
  no end date or an end date on or after it).
- ``fsm6``: an FSM instance started on or before the as-at date and ran on to (or is still
  open on) the earlier of six years before the as-at date and 1 April 2018. The six years are
  the DfE's "FSM at any time in the last six years", approximated by date overlap rather than
  census returns; 1 April 2018 is Universal Credit transitional protection: a pupil eligible
  at any time since then keeps eligibility.
- ``sen_status``: the ``SENprovision`` (N, K or E) of the latest ``SEN`` entry by ``StartDate``.
- ``previously_in_care`` and ``service_child``: the CTF elements for PLAC and service children
  are [unknown] here, so both stay None; admission and leaving dates are not read either.

Attendance, results and contacts in the same files are skipped unread; they need canonical
records of their own. Files are parsed as a stream, one pupil at a time, and a file with a
DOCTYPE or entity declaration is rejected before parsing (entity expansion attacks).

Incremental sync follows the CSV adapter: a file's watermark is its modification time, every
pupil in it carries that time, files are read newest first and a UPN read from a newer file is
skipped in older ones. Files need no secret; name any environment variable as ``credential``.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import IO, ClassVar

from pydantic import Field

from trustdata.adapters.base import Adapter, AdapterError, AdapterOptions, Page, Stream, Window
from trustdata.adapters.drop_folder import existing_folder, files_after
from trustdata.adapters.values import parse_eal, parse_flag, parse_nc_year
from trustdata.domain.disadvantage import fsm_flags
from trustdata.domain.records import PupilRecord

log = logging.getLogger(__name__)

_DOCUMENT_NAME = "Common Transfer File"
_MIN_VERSION = 20
_PROLOG_LIMIT = 64 * 1024
_COMMENTS_AND_PIS = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
# Pupil children that hold fields we emit; the rest (attendance, results...) is dropped unread.
_USED = {"UPN", "DOB", "Sex", "Gender", "BasicDetails", "NCyearActual"}
_USED |= {"FSMhistory", "LookedAfter", "SENhistory", "EAL"}


class CtfOptions(AdapterOptions):
    """Options of an academy that drops CTF XML files into a folder."""

    folder: Path = Field(description="the academy's drop folder (absolute path)")
    pattern: str = Field(default="*.xml", min_length=1)
    urn: str | None = Field(default=None, pattern=r"^\d{6}$")
    fsm6_as_at: date | None = None
    page_size: int = Field(default=2000, ge=1, le=100_000)


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


def _first(pupil: ET.Element, path: str) -> ET.Element | None:
    found = pupil.find(path)
    return found if found is not None else pupil.find(f"BasicDetails/{path}")


class _Pupil:
    """Reads one Pupil element; errors name the file and element, never a value."""

    def __init__(self, elem: ET.Element, name: str, index: int) -> None:
        self.elem = elem
        self.where = f"{name}: CTFpupilData/Pupil[{index}]"
        self.placeholder = f"{name}#Pupil[{index}]"

    @staticmethod
    def text(parent: ET.Element | None, path: str = ".") -> str | None:
        text = parent.findtext(path) if parent is not None else None
        return (text.strip() or None) if text else None

    def day(
        self, parent: ET.Element, tag: str, label: str, *, required: bool = False
    ) -> date | None:
        text = self.text(parent, tag)
        if text is None:
            if required:
                raise AdapterError(f"{self.where}/{label} is empty")
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise AdapterError(f"{self.where}/{label} is not a YYYY-MM-DD date") from None

    def fsm(self, as_at: date) -> tuple[bool | None, bool | None]:
        history = _first(self.elem, "FSMhistory")
        if history is None:
            return None, None
        periods = []
        for n, instance in enumerate(history.iterfind("FSMinstance"), start=1):
            label = f"FSMhistory/FSMinstance[{n}]"
            start = self.day(instance, "FSMstartDate", f"{label}/FSMstartDate", required=True)
            periods.append((start, self.day(instance, "FSMendDate", f"{label}/FSMendDate")))
        return fsm_flags(periods, as_at)

    def sen(self) -> str | None:
        history = _first(self.elem, "SENhistory")
        if history is None:
            return None
        latest: tuple[date, int, str | None] | None = None
        for n, sen in enumerate(history.iterfind("SEN"), start=1):
            start = self.day(sen, "StartDate", f"SENhistory/SEN[{n}]/StartDate") or date.min
            # Undated entries rank by document order: the last one written wins.
            entry = (start, n, self.text(sen, "SENprovision"))
            latest = entry if latest is None or entry[:2] > latest[:2] else latest
        return latest[2].upper() if latest and latest[2] else None

    def record(self, as_at: date, stamp: datetime) -> PupilRecord:
        upn = self.text(self.elem, "UPN")
        upn = upn.upper() if upn else None
        fsm_eligible, fsm6 = self.fsm(as_at)
        in_care = parse_flag(self.text(_first(self.elem, "LookedAfter"), "InCare"))
        return PupilRecord(
            mis_id=upn or self.placeholder,
            upn=upn,
            date_of_birth=self.day(self.elem, "DOB", "DOB"),
            gender=self.text(self.elem, "Sex") or self.text(self.elem, "Gender"),
            nc_year=parse_nc_year(self.text(_first(self.elem, "NCyearActual"))),
            fsm_eligible=fsm_eligible,
            fsm6=fsm6,
            in_care=in_care,
            previously_in_care=None,
            service_child=None,
            sen_status=self.sen(),
            eal=parse_eal(self.text(_first(self.elem, "EAL"))),
            admission_date=None,
            leaving_date=None,
            source_updated_at=stamp,
        )


class CtfAdapter(Adapter[CtfOptions]):
    """Pupils from DfE Common Transfer Files in the academy's drop folder."""

    kind: ClassVar[str] = "ctf"
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.PUPILS})
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
        """Yield pages of pupils from files modified after ``window.updated_after``."""
        if stream is not Stream.PUPILS:
            raise AdapterError(f"the ctf adapter has no stream {stream.value!r}")
        seen: set[str] = set()
        for stamp, path in reversed(self._files(window)):
            in_file: set[str] = set()
            records = (r for r in self._pupils(path, stamp, in_file) if r.mis_id not in seen)
            while page := list(islice(records, self.options.page_size)):
                yield Page(page, stamp)
            skipped = len(in_file & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            seen |= in_file

    def _pupils(self, path: Path, stamp: datetime, in_file: set[str]) -> Iterator[PupilRecord]:
        sections = _sections(path)
        as_at = self._header(path, sections)
        for index, elem in enumerate(sections, start=1):
            if elem.tag != "Pupil":
                raise AdapterError(f"{path.name}: a second Header after the pupils")
            record = _Pupil(elem, path.name, index).record(as_at, stamp)
            in_file.add(record.mis_id)
            yield record

    def _header(self, path: Path, sections: Iterator[ET.Element]) -> date:
        """Check the header that must open the file; return the FSM as-at date."""
        name = path.name
        header = next(sections, None)
        if header is None or header.tag != "Header":
            raise AdapterError(f"{name}: no Header before the pupils (not a CTF?)")
        if _Pupil.text(header, "DocumentName") != _DOCUMENT_NAME:
            raise AdapterError(f"{name}: Header/DocumentName is not {_DOCUMENT_NAME!r}")
        version = _Pupil.text(header, "CTFversion") or ""
        major = version.partition(".")[0]
        if not major.isdigit() or int(major) < _MIN_VERSION:
            raise AdapterError(
                f"{name}: Header/CTFversion is {version[:20]!r}; CTF {_MIN_VERSION} or later "
                "is needed (export the CTF again from an up-to-date MIS)"
            )
        found = _Pupil.text(header, "SourceSchool/URN")
        if self.options.urn is not None and found != self.options.urn:
            raise AdapterError(
                f"{name}: Header/SourceSchool/URN is {(found or '')[:10]!r}, not the "
                f"academy's {self.options.urn} (option 'urn'): a file for another school?"
            )
        if self.options.fsm6_as_at is not None:
            return self.options.fsm6_as_at
        try:
            return datetime.fromisoformat(_Pupil.text(header, "DateTime") or "").date()
        except ValueError:
            raise AdapterError(
                f"{name}: Header/DateTime is missing or not an ISO date-time "
                "(set option 'fsm6_as_at' to judge FSM on a fixed date)"
            ) from None
