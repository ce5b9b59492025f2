"""One CSV report read row by row: its header resolved against the column options, each row's
cells read by canonical field, and value maps that gather the texts they cannot map.

Errors name the file, the line, the column and the option to fix, never a cell's value: cells
may be personal data.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

from trustdata.adapters.base import AdapterError
from trustdata.adapters.csv_options import CsvExportOptions, fold

_UK = ZoneInfo("Europe/London")
_ACADEMIC_YEAR = re.compile(r"^(\d{4})\s*[/-]\s*(\d{2}|\d{4})$")
_NULLABLE = ", or to null if the report lacks it"
_HINTS = {"pupil_columns.mis_id": ", or to null to use the UPN as the MIS id"}
_BY_UPN = ", or set pupil_columns.mis_id to null to key by UPN"
#: Unmapped texts are listed only when they look like category labels: no more than this many
#: different texts ...
_MAX_LISTED = 10
#: ... each written this many times on average. Otherwise the mapped column is probably wrong
#: (a surname or UPN column on a small report) and its cells might be pupil data.
_MIN_REPEATS = 3
#: How many line numbers of unmapped rows an error gives when it does not list the texts.
_LINES_GIVEN = 5


class ReportRow:
    """One data row of one file, read by canonical field; errors name file, line and column."""

    def __init__(self, reader: ReportReader, cells: list[str]) -> None:
        self._reader = reader
        self._cells = cells
        self.line = reader.line

    def error(self, field: str, problem: str) -> AdapterError:
        """An error naming this row's file, line and the field's column."""
        return self._reader.error(field, problem, self.line)

    def header(self, field: str) -> str:
        """The report's header of ``field``."""
        return self._reader.header(field)

    def get(self, field: str) -> str:
        """The cell of ``field`` as written; "" when the field is not mapped or the row short."""
        index = self._reader.index.get(field)
        if index is None or index >= len(self._cells):
            return ""
        return self._cells[index]

    def required(self, field: str) -> str:
        """The cell of ``field`` stripped; an error when empty."""
        text = self.get(field).strip()
        if not text:
            raise self.error(field, "is empty (every row needs it)")
        return text

    def date(self, field: str, *, required: bool = False) -> date | None:
        """A date in the option's ``date_format`` or ISO form; None when empty."""
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
        """A pupil key: the cell stripped; an error when empty."""
        text = self.get(field).strip()
        if not text:
            raise self.error(field, "is empty (every row needs a pupil key)")
        return text


class ReportReader:
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
        """The report's header of ``field`` (the field's name before the header is read)."""
        return self._headers.get(field, field)

    def error(self, field: str, problem: str, line: int | None = None) -> AdapterError:
        """An error naming the file, the line (by default the last read) and the column."""
        # Never the cell's value: it may be personal data.
        where = self.line if line is None else line
        return AdapterError(
            f"{self.path.name}: line {where}, column {self.header(field)!r} {problem}"
        )

    def rows(self, columns: dict[str, str]) -> Iterator[ReportRow]:
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
                        yield ReportRow(self, cells)
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


class ValueMap:
    """Maps one column's text onto canonical values by an option, and gathers what it cannot
    map, so a file's unmapped texts are reported together with their counts."""

    def __init__(
        self, mapping: Mapping[str, str | None], option: str, allowed: Sequence[str]
    ) -> None:
        self._known = {fold(text): value for text, value in mapping.items()}
        self._option = option
        self._allowed = allowed
        self._unmapped: dict[str, _Unmapped] = {}
        self._lines: list[int] = []  # the first lines with unmapped text
        self._header = ""

    def lookup(self, row: ReportRow, field: str) -> str | None:
        """The canonical value of the row's text; None if mapped to null or not mapped."""
        text = row.get(field).strip()
        folded = fold(text)
        if folded in self._known:
            return self._known[folded]
        self._unmapped.setdefault(folded, _Unmapped(text, row.line)).count += 1
        if len(self._lines) < _LINES_GIVEN:
            self._lines.append(row.line)
        self._header = row.header(field)
        return None

    def check(self, path: Path, columns_option: str) -> None:
        """Raise AdapterError naming the texts no mapping held, if any: listed with their
        counts when they look like category labels, else only counted, with line numbers."""
        if not self._unmapped:
            return
        found = sorted(self._unmapped.values(), key=lambda u: u.line)
        fix = (
            f"add each to {self._option} as one of {', '.join(self._allowed)}, "
            "or null to leave it out"
        )
        rows = sum(u.count for u in found)
        if len(found) > _MAX_LISTED or len(found) * _MIN_REPEATS > rows:
            why = (
                "there are too many different texts for category labels"
                if len(found) > _MAX_LISTED
                else "they do not repeat as category labels do"
            )
            raise AdapterError(
                f"{path.name}: column {self._header!r} has {_count(rows, 'row')} whose text "
                f"{self._option} does not map ({_count(len(found), 'different text')}), first "
                f"on line{'s' if len(self._lines) > 1 else ''} "
                f"{', '.join(map(str, self._lines))}; the texts are not listed, since {why} "
                f"and may be pupil data (check that {columns_option} names the right column, "
                f"then {fix})"
            )
        listed = ", ".join(f"{u.text!r} x {u.count} (first on line {u.line})" for u in found)
        raise AdapterError(
            f"{path.name}: column {self._header!r} has text {self._option} does not map: "
            f"{listed} ({fix})"
        )


def _count(n: int, noun: str) -> str:
    """``n noun``, the noun plural unless n is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
