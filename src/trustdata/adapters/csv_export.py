"""Saved CSV reports dropped into a folder: SIMS, or any MIS that can only export files.

Options (``adapter.options`` in the trust config):

- ``folder``: the academy's drop folder. Give an absolute path: a relative one is read from the
  working directory of whichever process runs the sync. It must exist when a sync runs (not when
  the config is validated, which may happen on another machine).
- ``pupils_pattern``, ``attendance_pattern``: glob patterns inside the folder (defaults
  ``pupils*.csv`` and ``attendance*.csv``).
- ``encoding`` (default ``utf-8-sig``, so Excel's byte-order mark is fine; older Excel exports
  may need ``cp1252``), ``delimiter`` (default ``,``), ``date_format`` (default ``%d/%m/%Y`` as UK
  MIS exports write dates; ISO dates are accepted too) and ``page_size`` (default 5000).
- ``pupil_columns``, ``attendance_columns``: the CSV header of each canonical field, SIMS-like
  by default (``UPN``, ``Adno``, ``DOB``, ...; attendance ``Adno``, ``Date``, ``Session``,
  ``Mark``). Headers match ignoring case and surrounding spaces. Every mapped column must be in
  the file; set a pupil column to null when the report does not carry that field (it then stays
  empty in the warehouse, which is explicit rather than silently missing).

Pupils are keyed by ``pupil_columns.mis_id`` (the admission number by default). When the reports
carry no MIS id, set ``pupil_columns.mis_id: null``: the UPN then serves as the MIS id, and the
attendance files must key pupils by UPN (``attendance_columns.upn``). This is a setting rather
than guessed from each file's header, so pupils and marks cannot end up keyed differently.

Incremental sync: a file's watermark is its modification time (UTC), and every record it holds
carries that time as its source timestamp, so a newer file's mark replaces an older file's.
Attendance files are read oldest first. Pupils files are read newest first and a pupil already
read from a newer file is skipped, because each pupils report is a snapshot of the roll and one
batch must not hold the same pupil twice. Mapping MIS codes onto national codes is the
pipeline's job (the academy's ``code_map``): marks carry the file's code text as it is.

Files need no secret, but the trust config still requires a ``credential``: name an environment
variable holding any value (e.g. ``TD_NO_SECRET=none``); the adapter ignores it.
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

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
from trustdata.domain.records import AttendanceMarkRecord, PupilRecord

log = logging.getLogger(__name__)

_SESSIONS = {"AM": "AM", "A": "AM", "MORNING": "AM", "PM": "PM", "P": "PM", "AFTERNOON": "PM"}
_NULLABLE = ", or to null if the report lacks it"
_HINTS = {
    "pupil_columns.upn": "",
    "pupil_columns.mis_id": ", or to null to use the UPN as the MIS id",
    "attendance_columns.mis_pupil_id": ", or set pupil_columns.mis_id to null to key by UPN",
}


class PupilColumns(AdapterOptions):
    """CSV headers of the pupil fields; null means the report does not carry the field."""

    upn: str = "UPN"
    mis_id: str | None = "Adno"
    date_of_birth: str | None = "DOB"
    gender: str | None = "Gender"
    nc_year: str | None = "Year"
    fsm_eligible: str | None = "FSM"
    fsm6: str | None = "FSM6"
    in_care: str | None = "In Care"
    previously_in_care: str | None = "Post LAC"
    service_child: str | None = "Service Child"
    sen_status: str | None = "SEN Status"
    eal: str | None = "EAL"
    admission_date: str | None = "Admission Date"
    leaving_date: str | None = "Leaving Date"


class AttendanceColumns(AdapterOptions):
    """CSV headers of the mark fields; the pupil key used follows ``pupil_columns.mis_id``."""

    mis_pupil_id: str = "Adno"
    upn: str = "UPN"
    mark_date: str = "Date"
    session: str = "Session"
    code: str = "Mark"


class CsvExportOptions(AdapterOptions):
    """Options of an academy that drops saved CSV reports into a folder."""

    folder: Path = Field(description="the academy's drop folder (absolute path)")
    pupils_pattern: str = Field(default="pupils*.csv", min_length=1)
    attendance_pattern: str = Field(default="attendance*.csv", min_length=1)
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    date_format: str = Field(default="%d/%m/%Y", pattern="%")
    page_size: int = Field(default=5000, ge=1, le=100_000)
    pupil_columns: PupilColumns = PupilColumns()
    attendance_columns: AttendanceColumns = AttendanceColumns()

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown text encoding {value!r} (e.g. utf-8-sig or cp1252)"
            ) from None
        return value

    @model_validator(mode="after")
    def _distinct_patterns(self) -> CsvExportOptions:
        if self.pupils_pattern == self.attendance_pattern:
            raise ValueError("pupils_pattern and attendance_pattern must differ")
        return self


def parse_session(text: str) -> str:
    """AM or PM from any usual spelling; anything else is kept (upper-cased) for audit."""
    key = text.strip().upper()
    return _SESSIONS.get(key, key)


def _text(value: str) -> str | None:
    return value.strip() or None


def _unseen(
    records: Iterable[PupilRecord], seen: set[str], in_file: set[str]
) -> Iterator[PupilRecord]:
    """Skip pupils read from a newer file; note every pupil of this file in ``in_file``."""
    for record in records:
        key = record.upn or record.mis_id
        in_file.add(key)
        if key not in seen:
            yield record


class _Row:
    """One data row of one file, read by canonical field; errors name file, line and column."""

    def __init__(self, reader: _Reader, cells: list[str]) -> None:
        self._reader = reader
        self._cells = cells

    def get(self, field: str) -> str:
        index = self._reader.index.get(field)
        if index is None or index >= len(self._cells):
            return ""
        return self._cells[index]

    def date(self, field: str, *, required: bool = False) -> date | None:
        text = self.get(field).strip()
        if not text:
            if required:
                raise self._reader.error(field, "is empty")
            return None
        try:
            return datetime.strptime(text, self._reader.date_format).date()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            raise self._reader.error(
                field, f"is not a date in {self._reader.date_format} or ISO form (set date_format)"
            ) from None

    def key(self, field: str) -> str:
        text = self.get(field).strip()
        if not text:
            raise self._reader.error(field, "is empty (every row needs a pupil key)")
        return text


class _Reader:
    """Streams one CSV file row by row and resolves its header against the column options."""

    def __init__(self, path: Path, options: CsvExportOptions, option: str) -> None:
        self.path = path
        self.date_format = options.date_format
        self._options = options
        self._option = option
        self.index: dict[str, int] = {}
        self._headers: dict[str, str] = {}
        self._line = 0

    def error(self, field: str, problem: str) -> AdapterError:
        # Never the cell's value: it may be personal data.
        header = self._headers.get(field, field)
        return AdapterError(f"{self.path.name}: line {self._line}, column {header!r} {problem}")

    def rows(self, columns: dict[str, str]) -> Iterator[_Row]:
        """Yield the data rows; ``columns`` maps each needed field to its header."""
        encoding, delimiter = self._options.encoding, self._options.delimiter
        try:
            handle = self.path.open(newline="", encoding=encoding)
        except OSError as exc:
            raise AdapterError(f"{self.path.name}: cannot be read ({exc.strerror})") from None
        with handle:
            reader = csv.reader(handle, delimiter=delimiter)
            try:
                self._resolve(next(reader, []), columns)
                for cells in reader:
                    self._line = reader.line_num
                    if any(cell.strip() for cell in cells):
                        yield _Row(self, cells)
            except UnicodeDecodeError:
                raise AdapterError(
                    f"{self.path.name}: not valid {encoding} text after line {self._line} "
                    "(set encoding, e.g. cp1252 for older Excel exports)"
                ) from None
            except csv.Error as exc:
                raise AdapterError(f"{self.path.name}: line {reader.line_num}: {exc}") from None

    def _resolve(self, header: Sequence[str], columns: dict[str, str]) -> None:
        found = {name.strip().lower(): i for i, name in enumerate(header)}
        for field, name in columns.items():
            if name.strip().lower() not in found:
                option = f"{self._option}.{field}"
                # Pupil fields other than the UPN may be absent from a report; marks may not.
                default = _NULLABLE if self._option == "pupil_columns" else ""
                raise AdapterError(
                    f"{self.path.name}: no column {name!r} "
                    f"(set {option} to the report's header{_HINTS.get(option, default)})"
                )
            self.index[field] = found[name.strip().lower()]
            self._headers[field] = name


class CsvExportAdapter(Adapter[CsvExportOptions]):
    """Pupils and session marks from saved CSV reports in the academy's drop folder."""

    kind: ClassVar[str] = "csv"
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.PUPILS, Stream.ATTENDANCE})
    Options: ClassVar[type[AdapterOptions]] = CsvExportOptions

    def _folder(self) -> Path:
        return existing_folder(self.options.folder)

    def _files(self, pattern: str, window: Window) -> list[tuple[datetime, Path]]:
        return files_after(self.options.folder, pattern, window.updated_after)

    def check_connection(self) -> None:
        """The folder exists, is readable and holds at least one file matching a pattern."""
        folder = self._folder()
        if not os.access(folder, os.R_OK | os.X_OK):
            raise AdapterError(
                f"option 'folder': {folder} is not readable by this process (check permissions)"
            )
        patterns = (self.options.pupils_pattern, self.options.attendance_pattern)
        if not any(self._files(pattern, Window()) for pattern in patterns):
            raise AdapterError(
                f"option 'folder': no file matches {patterns[0]!r} or {patterns[1]!r} "
                "(check that the MIS saves its reports there, or set pupils_pattern and "
                "attendance_pattern)"
            )

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of pupils or marks from files modified after ``window.updated_after``."""
        if stream is Stream.PUPILS:
            files = self._files(self.options.pupils_pattern, window)
            yield from self._fetch_pupils(list(reversed(files)))
        elif stream is Stream.ATTENDANCE:
            for stamp, path in self._files(self.options.attendance_pattern, window):
                yield from self._pages(self._marks(path, stamp), stamp)
        else:
            raise AdapterError(f"the csv adapter has no stream {stream.value!r}")

    def _pages(self, records: Iterable[Record], stamp: datetime) -> Iterator[Page]:
        # One page per slice of one file, so each page's watermark is exactly its file's mtime.
        iterator = iter(records)
        while page := list(islice(iterator, self.options.page_size)):
            yield Page(page, stamp)

    def _fetch_pupils(self, newest_first: list[tuple[datetime, Path]]) -> Iterator[Page]:
        seen: set[str] = set()
        for stamp, path in newest_first:
            in_file: set[str] = set()
            yield from self._pages(_unseen(self._pupils(path, stamp), seen, in_file), stamp)
            skipped = len(in_file & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            seen |= in_file

    def _pupils(self, path: Path, stamp: datetime) -> Iterator[PupilRecord]:
        mapping = self.options.pupil_columns.model_dump()
        columns = {field: name for field, name in mapping.items() if name is not None}
        for row in _Reader(path, self.options, "pupil_columns").rows(columns):
            upn = _text(row.get("upn"))
            upn = upn.upper() if upn else None
            mis_id = row.key("mis_id") if "mis_id" in columns else (upn or "")
            yield PupilRecord(
                mis_id=mis_id,
                upn=upn,
                date_of_birth=row.date("date_of_birth"),
                gender=_text(row.get("gender")),
                nc_year=parse_nc_year(row.get("nc_year")),
                fsm_eligible=parse_flag(row.get("fsm_eligible")),
                fsm6=parse_flag(row.get("fsm6")),
                in_care=parse_flag(row.get("in_care")),
                previously_in_care=parse_flag(row.get("previously_in_care")),
                service_child=parse_flag(row.get("service_child")),
                sen_status=_text(row.get("sen_status")),
                eal=parse_eal(row.get("eal")),
                admission_date=row.date("admission_date"),
                leaving_date=row.date("leaving_date"),
                source_updated_at=stamp,
            )

    def _marks(self, path: Path, stamp: datetime) -> Iterator[AttendanceMarkRecord]:
        names = self.options.attendance_columns
        by_upn = self.options.pupil_columns.mis_id is None
        key_field = "upn" if by_upn else "mis_pupil_id"
        columns = {
            key_field: names.upn if by_upn else names.mis_pupil_id,
            "mark_date": names.mark_date,
            "session": names.session,
            "code": names.code,
        }
        for row in _Reader(path, self.options, "attendance_columns").rows(columns):
            key = row.key(key_field)
            mark_date = row.date("mark_date", required=True)
            assert mark_date is not None  # required=True raises instead of returning None
            yield AttendanceMarkRecord(
                mis_mark_id=None,
                mis_pupil_id=key.upper() if by_upn else key,
                mark_date=mark_date,
                session=parse_session(row.get("session")),
                source_code=row.get("code").strip(),
                source_updated_at=stamp,
            )
