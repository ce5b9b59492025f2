"""Saved CSV reports dropped into a folder: SIMS, or any MIS that can only export files.

Options (``adapter.options`` in the trust config):

- ``folder``: the academy's drop folder. Give an absolute path: a relative one is read from the
  working directory of whichever process runs the sync. It must exist when a sync runs (not when
  the config is validated, which may happen on another machine).
- One glob pattern inside the folder per report: ``pupils_pattern`` (default ``pupils*.csv``),
  ``attendance_pattern`` (``attendance*.csv``), ``enrolments_pattern`` (null: see below),
  ``characteristics_pattern`` (``characteristics*.csv``), ``assessments_pattern``
  (``assessments*.csv``) and ``deletions_pattern`` (``deletions*.csv``). Patterns must differ.
- ``encoding`` (default ``utf-8-sig``, so Excel's byte-order mark is fine; older Excel exports
  may need ``cp1252``), ``delimiter`` (default ``,``), ``date_format`` (default ``%d/%m/%Y`` as UK
  MIS exports write dates; ISO dates are accepted too) and ``page_size`` (default 5000).
- ``pupil_columns``, ``attendance_columns``, ``enrolment_columns``, ``characteristic_columns``,
  ``assessment_columns``, ``deletion_columns``: the CSV header of each canonical field, SIMS-like
  by default (``UPN``, ``Adno``, ``DOB``, ...; attendance ``Adno``, ``Date``, ``Session``,
  ``Mark``; see the column classes below). Headers match ignoring case and surrounding spaces.
  Every mapped column must be in the file; a column that may be set to null (most pupil fields,
  ``enrolment_columns.registration``, ``assessment_columns.component``,
  ``deletion_columns.deleted_at``) then stays empty, which is explicit rather than silently
  missing.
- ``registration_values`` and ``characteristic_types``: the report's text for an enrolment's
  registration and for a characteristic's type, mapped onto the canonical values (matched
  ignoring case and spaces; giving the option replaces the defaults). Text the map does not
  hold stops the read with the texts and their counts listed, so nothing is skipped silently;
  map a text to null to say it is deliberately not carried (a registration the MIS does not
  state, or a type such as SEN that is not a characteristic the platform keeps).
- ``characteristics_complete_for_roll`` (default false): the characteristics report lists every
  period of every pupil on roll; see characteristics below.

Every report is keyed by ``pupil_columns.mis_id`` (the admission number by default). When the
reports carry no MIS id, set ``pupil_columns.mis_id: null``: the UPN then serves as the MIS id,
and every other report must key pupils by UPN (its ``*_columns.upn``). This is a setting rather
than guessed from each file's header, so pupils and their other rows cannot end up keyed
differently.

Streams and their reports:

- pupils: the roll. Each report is a snapshot: files are read newest first and a pupil already
  read from a newer file is skipped, because one batch must not hold the same pupil twice.
- enrolments: with ``enrolments_pattern`` null (the default), one single-registration period per
  pupil from the pupils report's admission and leaving dates; otherwise from an enrolments
  report (pupil, start, end, registration). SIMS's enrolment statuses map by default: Single
  and Current (C) onto ``single``, Main (M) onto ``main``, Subsidiary (S) onto ``subsidiary``,
  and Guest (G) onto ``subsidiary`` too, because a guest pupil's main registration is at
  another school, which counts them.
- characteristics: dated FSM, CLA, PLAC and service-child periods from a periods report (pupil,
  type, start, end). Such a report usually lists only pupils who have periods, so a pupil whose
  last period was removed from the MIS is simply absent and keeps the period stored earlier.
  When the report is known to list every period, of each characteristic it maps, for every
  pupil on roll, set ``characteristics_complete_for_roll: true``: each characteristics file
  then also holds whole (``Page.covers``), for every pupil in the newest pupils report (keyed
  as the report keys pupils), every characteristic ``characteristic_types`` maps to, so a
  pupil's emptied set withdraws their stored periods. Off by default, because on a filtered
  report (one characteristic, one year group) it would withdraw what the report left out.
- attendance: session marks. Mapping MIS codes onto national codes is the pipeline's job (the
  academy's ``code_map``): marks carry the file's code text as it is.
- assessments: statutory results (pupil, key stage, year, subject, method, optional component,
  result). A row with an empty result holds no result and is skipped (the count is logged).
- deletions: pupils the MIS says were deleted (pupil, optional date and time of deletion, read
  as UK local time). Deletions are explicit only: a pupil missing from a pupils report is never
  taken as deleted, because a report can be filtered or saved half-way.

Enrolments and characteristic periods are sent whole per pupil: like pupils, their reports are
read newest first and a pupil named by a newer file is skipped in older ones, so the newest
file's set for that pupil is the one the batch holds (and rows it leaves out are withdrawn).
With ``characteristics_complete_for_roll``, a file also names every pupil it covers, so an
older file's periods never come back for them. Enrolments need no such option: every row of an
enrolments report has a start date, so a pupil in that report holds their set with rows, and
one absent from it has left the roll and keeps their history; derived from the pupils report,
every pupil with an admission date sends their enrolment.
Attendance, assessment and deletion files are read oldest first, so a newer file's row wins.

A report whose pattern is null, or that never appears in the folder, gives its stream no
records: the adapter still declares every stream (streams are declared per adapter, not per
academy), and an empty batch changes nothing.

Incremental sync: a file's watermark is its modification time (UTC), and every record it holds
carries that time as its source timestamp; a sync reads the files modified after the stream's
watermark. A deletion without a date is dated by its file's time.

Files need no secret, but the trust config still requires a ``credential``: name an environment
variable holding any value (e.g. ``TD_NO_SECRET=none``); the adapter ignores it.
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import ClassVar, get_args
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from trustdata.adapters.base import (
    CHARACTERISTICS,
    REGISTRATIONS,
    Adapter,
    AdapterError,
    AdapterOptions,
    Page,
    Record,
    Stream,
    Window,
    enrolment_pages,
)
from trustdata.adapters.drop_folder import existing_folder, files_after
from trustdata.adapters.values import parse_eal, parse_flag, parse_nc_year
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceMarkRecord,
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)

log = logging.getLogger(__name__)

_SESSIONS = {"AM": "AM", "A": "AM", "MORNING": "AM", "PM": "PM", "P": "PM", "AFTERNOON": "PM"}
_UK = ZoneInfo("Europe/London")
_ACADEMIC_YEAR = re.compile(r"^(\d{4})\s*[/-]\s*(\d{2}|\d{4})$")
_NULLABLE = ", or to null if the report lacks it"
_HINTS = {"pupil_columns.mis_id": ", or to null to use the UPN as the MIS id"}
_BY_UPN = ", or set pupil_columns.mis_id to null to key by UPN"
#: More distinct unmapped texts than this are not listed: the mapped column is probably wrong,
#: and its cells might be pupil data.
_MAX_LISTED = 10

#: SIMS-like enrolment statuses (and their CBDS codes) onto ``REGISTRATIONS``.
DEFAULT_REGISTRATION_VALUES: dict[str, str | None] = {
    "Single": "single",
    "Single Registration": "single",
    "Current": "single",
    "C": "single",
    "Main": "main",
    "Main - Dual Registration": "main",
    "M": "main",
    "Subsidiary": "subsidiary",
    "Subsidiary - Dual Registration": "subsidiary",
    "S": "subsidiary",
    "Guest": "subsidiary",
    "Guest Pupil": "subsidiary",
    "G": "subsidiary",
}

#: Usual type texts of a characteristics report onto ``CHARACTERISTICS``.
DEFAULT_CHARACTERISTIC_TYPES: dict[str, str | None] = {
    "FSM": "fsm",
    "Free School Meals": "fsm",
    "FSM Eligible": "fsm",
    "CLA": "cla",
    "LAC": "cla",
    "In Care": "cla",
    "Looked After": "cla",
    "PLAC": "plac",
    "Post LAC": "plac",
    "Previously Looked After": "plac",
    "Service Child": "service_child",
    "Service Children": "service_child",
}


def _fold(text: str) -> str:
    """Text as value maps compare it: ignoring case and spaces."""
    return "".join(text.split()).casefold()


def _checked_map(mapping: dict[str, str | None], allowed: Sequence[str]) -> dict[str, str | None]:
    folded: dict[str, str] = {}
    for text, value in mapping.items():
        if value is not None and value not in allowed:
            raise ValueError(
                f"{text!r} maps to {value!r}: use one of {', '.join(allowed)}, or null"
            )
        same = folded.setdefault(_fold(text), text)
        if same != text and mapping[same] != value:
            raise ValueError(f"{same!r} and {text!r} are the same text but map differently")
    return mapping


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


class PupilKeyColumns(AdapterOptions):
    """The pupil key of a report other than pupils: which one is read follows
    ``pupil_columns.mis_id`` (null: the UPN)."""

    mis_pupil_id: str = "Adno"
    upn: str = "UPN"


class AttendanceColumns(PupilKeyColumns):
    """CSV headers of the mark fields."""

    mark_date: str = "Date"
    session: str = "Session"
    code: str = "Mark"


class EnrolmentColumns(PupilKeyColumns):
    """CSV headers of an enrolments report; ``registration`` null: the report does not say."""

    start_date: str = "Start Date"
    end_date: str = "End Date"
    registration: str | None = "Enrolment Status"


class CharacteristicColumns(PupilKeyColumns):
    """CSV headers of a characteristic periods report (type text mapped by
    ``characteristic_types``)."""

    characteristic: str = "Type"
    start_date: str = "Start Date"
    end_date: str = "End Date"


class AssessmentColumns(PupilKeyColumns):
    """CSV headers of an assessment results report; ``component`` null: none."""

    key_stage: str = "Key Stage"
    assessment_year: str = "Assessment Year"
    subject: str = "Subject"
    method: str = "Method"
    component: str | None = "Component"
    result: str = "Result"


class DeletionColumns(PupilKeyColumns):
    """CSV headers of a deletions report; ``deleted_at`` null: dated by the file's time."""

    deleted_at: str | None = "Deleted On"


_PATTERNS = (
    "pupils_pattern",
    "attendance_pattern",
    "enrolments_pattern",
    "characteristics_pattern",
    "assessments_pattern",
    "deletions_pattern",
)


class CsvExportOptions(AdapterOptions):
    """Options of an academy that drops saved CSV reports into a folder."""

    folder: Path = Field(description="the academy's drop folder (absolute path)")
    pupils_pattern: str = Field(default="pupils*.csv", min_length=1)
    attendance_pattern: str = Field(default="attendance*.csv", min_length=1)
    enrolments_pattern: str | None = Field(default=None, min_length=1)
    characteristics_pattern: str | None = Field(default="characteristics*.csv", min_length=1)
    assessments_pattern: str | None = Field(default="assessments*.csv", min_length=1)
    deletions_pattern: str | None = Field(default="deletions*.csv", min_length=1)
    encoding: str = "utf-8-sig"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    date_format: str = Field(default="%d/%m/%Y", pattern="%")
    page_size: int = Field(default=5000, ge=1, le=100_000)
    pupil_columns: PupilColumns = PupilColumns()
    attendance_columns: AttendanceColumns = AttendanceColumns()
    enrolment_columns: EnrolmentColumns = EnrolmentColumns()
    characteristic_columns: CharacteristicColumns = CharacteristicColumns()
    assessment_columns: AssessmentColumns = AssessmentColumns()
    deletion_columns: DeletionColumns = DeletionColumns()
    registration_values: dict[str, str | None] = Field(
        default_factory=lambda: dict(DEFAULT_REGISTRATION_VALUES)
    )
    characteristic_types: dict[str, str | None] = Field(
        default_factory=lambda: dict(DEFAULT_CHARACTERISTIC_TYPES)
    )
    characteristics_complete_for_roll: bool = Field(
        default=False,
        description="each characteristics report lists every period, of each characteristic "
        "it maps, for every pupil in the pupils report",
    )

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

    @field_validator("registration_values")
    @classmethod
    def _registrations(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _checked_map(value, REGISTRATIONS)

    @field_validator("characteristic_types")
    @classmethod
    def _characteristics(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _checked_map(value, CHARACTERISTICS)

    @model_validator(mode="after")
    def _distinct_patterns(self) -> CsvExportOptions:
        named: dict[str, str] = {}
        for option in _PATTERNS:
            pattern: str | None = getattr(self, option)
            if pattern is None:
                continue
            if pattern in named:
                raise ValueError(f"{named[pattern]} and {option} must differ")
            named[pattern] = option
        return self

    @model_validator(mode="after")
    def _roll_needs_a_report(self) -> CsvExportOptions:
        if self.characteristics_complete_for_roll and self.characteristics_pattern is None:
            raise ValueError(
                "characteristics_complete_for_roll needs characteristics_pattern "
                "(set the pattern, or leave the option false)"
            )
        return self


def parse_session(text: str) -> str:
    """AM or PM from any usual spelling; anything else is kept (upper-cased) for audit."""
    key = text.strip().upper()
    return _SESSIONS.get(key, key)


def parse_key_stage(text: str) -> str:
    """``KS2`` from "KS2", "Key Stage 2" or "2"; anything else is kept (upper-cased) for audit."""
    key = "".join(text.split()).upper()
    number = key.removeprefix("KEYSTAGE").removeprefix("KS")
    return f"KS{number}" if number.isdigit() else key


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
        self.line = reader.line

    def error(self, field: str, problem: str) -> AdapterError:
        return self._reader.error(field, problem, self.line)

    def header(self, field: str) -> str:
        return self._reader.header(field)

    def get(self, field: str) -> str:
        index = self._reader.index.get(field)
        if index is None or index >= len(self._cells):
            return ""
        return self._cells[index]

    def required(self, field: str) -> str:
        text = self.get(field).strip()
        if not text:
            raise self.error(field, "is empty (every row needs it)")
        return text

    def date(self, field: str, *, required: bool = False) -> date | None:
        text = self.get(field).strip()
        if not text:
            if required:
                raise self.error(field, "is empty")
            return None
        try:
            return datetime.strptime(text, self._reader.date_format).date()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            raise self.error(
                field, f"is not a date in {self._reader.date_format} or ISO form (set date_format)"
            ) from None

    def moment(self, field: str) -> datetime | None:
        """A date, or a date and time, as UK local time unless the text gives an offset."""
        text = self.get(field).strip()
        if not text:
            return None
        form = self._reader.date_format
        for pattern in (f"{form} %H:%M:%S", f"{form} %H:%M", form):
            try:
                return datetime.strptime(text, pattern).replace(tzinfo=_UK)
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise self.error(
                field, f"is not a date (and time) in {form} [%H:%M] or ISO form (set date_format)"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UK)

    def year(self, field: str) -> int:
        """A calendar year ("2025"), or the summer's year of an academic year ("2024/25")."""
        text = self.required(field)
        if len(text) == 4 and text.isdigit():
            return int(text)
        match = _ACADEMIC_YEAR.match(text)
        if match and int(match[2]) % 100 == (int(match[1]) + 1) % 100:
            return int(match[1]) + 1
        raise self.error(field, "is not a year such as 2025 or an academic year such as 2024/25")

    def key(self, field: str) -> str:
        text = self.get(field).strip()
        if not text:
            raise self.error(field, "is empty (every row needs a pupil key)")
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
        self.line = 0

    def header(self, field: str) -> str:
        return self._headers.get(field, field)

    def error(self, field: str, problem: str, line: int | None = None) -> AdapterError:
        # Never the cell's value: it may be personal data.
        where = self.line if line is None else line
        return AdapterError(
            f"{self.path.name}: line {where}, column {self.header(field)!r} {problem}"
        )

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
                    self.line = reader.line_num
                    if any(cell.strip() for cell in cells):
                        yield _Row(self, cells)
            except UnicodeDecodeError:
                raise AdapterError(
                    f"{self.path.name}: not valid {encoding} text after line {self.line} "
                    "(set encoding, e.g. cp1252 for older Excel exports)"
                ) from None
            except csv.Error as exc:
                raise AdapterError(f"{self.path.name}: line {reader.line_num}: {exc}") from None

    def _resolve(self, header: Sequence[str], columns: dict[str, str]) -> None:
        found = {name.strip().lower(): i for i, name in enumerate(header)}
        for field, name in columns.items():
            if name.strip().lower() not in found:
                raise AdapterError(
                    f"{self.path.name}: no column {name!r} "
                    f"(set {self._option}.{field} to the report's header{self._hint(field)})"
                )
            self.index[field] = found[name.strip().lower()]
            self._headers[field] = name

    def _hint(self, field: str) -> str:
        option = f"{self._option}.{field}"
        if option in _HINTS:
            return _HINTS[option]
        if field == "mis_pupil_id":
            return _BY_UPN
        model = type(getattr(self._options, self._option))
        return _NULLABLE if type(None) in get_args(model.model_fields[field].annotation) else ""


@dataclass
class _Unmapped:
    """A text no mapping held: as first written, where first seen, how often."""

    text: str
    line: int
    count: int = 0


class _ValueMap:
    """Maps one column's text onto canonical values by an option, and gathers what it cannot
    map, so a file's unmapped texts are reported together with their counts."""

    def __init__(
        self, mapping: Mapping[str, str | None], option: str, allowed: Sequence[str]
    ) -> None:
        self._known = {_fold(text): value for text, value in mapping.items()}
        self._option = option
        self._allowed = allowed
        self._unmapped: dict[str, _Unmapped] = {}
        self._header = ""

    def lookup(self, row: _Row, field: str) -> str | None:
        """The canonical value of the row's text; None if mapped to null or not mapped."""
        text = row.get(field).strip()
        folded = _fold(text)
        if folded in self._known:
            return self._known[folded]
        self._unmapped.setdefault(folded, _Unmapped(text, row.line)).count += 1
        self._header = row.header(field)
        return None

    def check(self, path: Path, columns_option: str) -> None:
        """Raise AdapterError listing the texts no mapping held, if any."""
        if not self._unmapped:
            return
        found = sorted(self._unmapped.values(), key=lambda u: u.line)
        fix = (
            f"add each to {self._option} as one of {', '.join(self._allowed)}, "
            "or null to leave it out"
        )
        if len(found) > _MAX_LISTED:
            raise AdapterError(
                f"{path.name}: column {self._header!r} has {len(found)} different texts that "
                f"{self._option} does not map, first on line {found[0].line} (check that "
                f"{columns_option} names the right column, then {fix})"
            )
        listed = ", ".join(f"{u.text!r} x {u.count} (first on line {u.line})" for u in found)
        raise AdapterError(
            f"{path.name}: column {self._header!r} has text {self._option} does not map: "
            f"{listed} ({fix})"
        )


_WholeSet = tuple[set[str], Sequence[EnrolmentRecord | CharacteristicPeriodRecord]]


class CsvExportAdapter(Adapter[CsvExportOptions]):
    """Pupils, enrolments, characteristic periods, marks, results and deletions from saved CSV
    reports in the academy's drop folder."""

    kind: ClassVar[str] = "csv"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {
            Stream.PUPILS,
            Stream.ENROLMENTS,
            Stream.CHARACTERISTICS,
            Stream.ATTENDANCE,
            Stream.ASSESSMENTS,
            Stream.DELETIONS,
        }
    )
    Options: ClassVar[type[AdapterOptions]] = CsvExportOptions

    def _folder(self) -> Path:
        return existing_folder(self.options.folder)

    def _files(self, pattern: str | None, window: Window) -> list[tuple[datetime, Path]]:
        if pattern is None:  # the academy does not export this report
            return []
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
        """Yield pages of ``stream``'s records from files modified after
        ``window.updated_after``; none when its report is not configured or not there."""
        readers: dict[Stream, Callable[[Window], Iterator[Page]]] = {
            Stream.PUPILS: self._fetch_pupils,
            Stream.ENROLMENTS: self._fetch_enrolments,
            Stream.CHARACTERISTICS: self._fetch_characteristics,
            Stream.ATTENDANCE: self._fetch_marks,
            Stream.ASSESSMENTS: self._fetch_assessments,
            Stream.DELETIONS: self._fetch_deletions,
        }
        if stream not in readers:
            raise AdapterError(f"the csv adapter has no stream {stream.value!r}")
        yield from readers[stream](window)

    def _pages(self, records: Iterable[Record], stamp: datetime) -> Iterator[Page]:
        # One page per slice of one file, so each page's watermark is exactly its file's mtime.
        iterator = iter(records)
        while page := list(islice(iterator, self.options.page_size)):
            yield Page(page, stamp)

    def _fetch_pupils(self, window: Window) -> Iterator[Page]:
        seen: set[str] = set()
        for stamp, path in reversed(self._files(self.options.pupils_pattern, window)):
            in_file: set[str] = set()
            yield from self._pages(_unseen(self._pupils(path, stamp), seen, in_file), stamp)
            skipped = len(in_file & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            seen |= in_file

    def _fetch_enrolments(self, window: Window) -> Iterator[Page]:
        pattern = self.options.enrolments_pattern
        if pattern is not None:
            yield from self._whole_sets(pattern, window, self._enrolments)
            return
        if self.options.pupil_columns.admission_date is None:
            log.warning(
                "no enrolments: pupil_columns.admission_date and enrolments_pattern are null"
            )
        yield from enrolment_pages(self._fetch_pupils(window))

    def _fetch_characteristics(self, window: Window) -> Iterator[Page]:
        roll: Callable[[], frozenset[str]] | None = None
        if self.options.characteristics_complete_for_roll:
            roll = self._roll
        pattern = self.options.characteristics_pattern
        yield from self._whole_sets(pattern, window, self._characteristics, roll)

    def _fetch_marks(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.attendance_pattern, window):
            yield from self._pages(self._marks(path, stamp), stamp)

    def _fetch_assessments(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.assessments_pattern, window):
            yield from self._pages(self._results(path, stamp), stamp)

    def _fetch_deletions(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.deletions_pattern, window):
            yield from self._pages(self._deletions(path, stamp), stamp)

    def _whole_sets(
        self,
        pattern: str | None,
        window: Window,
        parse: Callable[[Path, datetime], _WholeSet],
        roll: Callable[[], frozenset[str]] | None = None,
    ) -> Iterator[Page]:
        """Newest file first; a pupil a newer file named keeps that file's set alone.

        With ``roll`` (characteristics only), each file also covers every mapped characteristic
        of every pupil on roll not named by a newer file, and names them.
        """
        seen: set[str] = set()
        on_roll: frozenset[str] | None = None
        for stamp, path in reversed(self._files(pattern, window)):
            named, records = parse(path, stamp)
            skipped = len(named & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            yield from self._pages((r for r in records if r.mis_pupil_id not in seen), stamp)
            if roll is not None:
                on_roll = roll() if on_roll is None else on_roll
                yield from self._roll_covers(on_roll - seen, stamp)
                named |= on_roll
            seen |= named

    def _roll_covers(self, pupils: frozenset[str], stamp: datetime) -> Iterator[Page]:
        """One empty page covering each mapped characteristic of each of ``pupils``."""
        kinds = sorted({v for v in self.options.characteristic_types.values() if v is not None})
        covers = [(pupil, kind) for pupil in sorted(pupils) for kind in kinds]
        if covers:
            yield Page([], stamp, covers=covers)

    def _roll(self) -> frozenset[str]:
        """The pupil keys of the newest pupils report, as the other reports key pupils."""
        files = self._files(self.options.pupils_pattern, Window())
        if not files:
            log.warning("no pupils report: characteristics cover no pupil without periods")
            return frozenset()
        columns = self.options.pupil_columns
        by_upn = columns.mis_id is None
        field = "upn" if by_upn else "mis_id"
        name = columns.upn if columns.mis_id is None else columns.mis_id
        keys: set[str] = set()
        for row in _Reader(files[-1][1], self.options, "pupil_columns").rows({field: name}):
            if not by_upn:
                keys.add(row.key(field))
            elif upn := row.get(field).strip():  # no UPN: the pupil is quarantined anyway
                keys.add(upn.upper())
        return frozenset(keys)

    def _keyed_rows(
        self, path: Path, option: str, fields: Sequence[str]
    ) -> Iterator[tuple[str, _Row]]:
        """Rows of a report other than pupils, each with its pupil's key."""
        names: PupilKeyColumns = getattr(self.options, option)
        by_upn = self.options.pupil_columns.mis_id is None
        key_field = "upn" if by_upn else "mis_pupil_id"
        columns = {key_field: getattr(names, key_field)}
        columns |= {f: getattr(names, f) for f in fields if getattr(names, f) is not None}
        for row in _Reader(path, self.options, option).rows(columns):
            key = row.key(key_field)
            yield (key.upper() if by_upn else key), row

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

    def _enrolments(self, path: Path, stamp: datetime) -> _WholeSet:
        values = _ValueMap(self.options.registration_values, "registration_values", REGISTRATIONS)
        named: set[str] = set()
        records: list[EnrolmentRecord] = []
        fields = ("start_date", "end_date", "registration")
        for key, row in self._keyed_rows(path, "enrolment_columns", fields):
            named.add(key)
            # An empty registration: the MIS does not say.
            said = row.get("registration").strip()
            registration = values.lookup(row, "registration") if said else None
            start = row.date("start_date", required=True)
            assert start is not None  # required=True raises instead of returning None
            records.append(EnrolmentRecord(key, start, row.date("end_date"), registration, stamp))
        values.check(path, "enrolment_columns.registration")
        return named, records

    def _characteristics(self, path: Path, stamp: datetime) -> _WholeSet:
        types = _ValueMap(
            self.options.characteristic_types, "characteristic_types", CHARACTERISTICS
        )
        named: set[str] = set()
        records: list[CharacteristicPeriodRecord] = []
        fields = ("characteristic", "start_date", "end_date")
        for key, row in self._keyed_rows(path, "characteristic_columns", fields):
            named.add(key)
            row.required("characteristic")
            characteristic = types.lookup(row, "characteristic")
            if characteristic is None:  # mapped to null, or unmapped and raised below
                continue
            start = row.date("start_date", required=True)
            assert start is not None  # required=True raises instead of returning None
            end = row.date("end_date")
            records.append(CharacteristicPeriodRecord(key, characteristic, start, end, stamp))
        types.check(path, "characteristic_columns.characteristic")
        return named, records

    def _marks(self, path: Path, stamp: datetime) -> Iterator[AttendanceMarkRecord]:
        fields = ("mark_date", "session", "code")
        for key, row in self._keyed_rows(path, "attendance_columns", fields):
            mark_date = row.date("mark_date", required=True)
            assert mark_date is not None  # required=True raises instead of returning None
            yield AttendanceMarkRecord(
                mis_mark_id=None,
                mis_pupil_id=key,
                mark_date=mark_date,
                session=parse_session(row.get("session")),
                source_code=row.get("code").strip(),
                source_updated_at=stamp,
            )

    def _results(self, path: Path, stamp: datetime) -> Iterator[AssessmentResultRecord]:
        fields = ("key_stage", "assessment_year", "subject", "method", "component", "result")
        blank = 0
        for key, row in self._keyed_rows(path, "assessment_columns", fields):
            result = row.get("result").strip()
            if not result:
                blank += 1
                continue
            yield AssessmentResultRecord(
                mis_pupil_id=key,
                key_stage=parse_key_stage(row.required("key_stage")),
                assessment_year=row.year("assessment_year"),
                subject=row.required("subject"),
                method=row.required("method").upper(),
                component=row.get("component").strip(),
                result=result,
                source_updated_at=stamp,
            )
        if blank:
            log.info("%s: %d rows without a result skipped", path.name, blank)

    def _deletions(self, path: Path, stamp: datetime) -> Iterator[DeletionRecord]:
        for key, row in self._keyed_rows(path, "deletion_columns", ("deleted_at",)):
            yield DeletionRecord("pupil", key, row.moment("deleted_at") or stamp)
