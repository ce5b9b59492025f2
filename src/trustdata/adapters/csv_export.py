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
  ``Mark``; see the column classes in :mod:`trustdata.adapters.csv_options`). Headers match
  ignoring case and surrounding spaces. Every mapped column must be in the file; a column that
  may be set to null (most pupil fields, ``enrolment_columns.registration``,
  ``assessment_columns.component``, ``deletion_columns.deleted_at``) then stays empty, which is
  explicit rather than silently missing.
- ``registration_values`` and ``characteristic_types``: the report's text for an enrolment's
  registration and for a characteristic's type, mapped onto the canonical values (matched
  ignoring case and spaces; giving the option replaces the defaults). Text the map does not
  hold stops the read, so nothing is skipped silently: the texts are listed with their counts
  when they look like category labels (at most 10 different texts, written 3 times each on
  average); otherwise the column is probably mapped wrongly (surnames, UPNs) and only the
  counts and the first line numbers are given. Map a text to null to say it is deliberately
  not carried (a registration the MIS does not state, or a type such as SEN that is not a
  characteristic the platform keeps).
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

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import ClassVar

from trustdata.adapters.base import (
    Adapter,
    AdapterError,
    AdapterOptions,
    Page,
    Record,
    Stream,
    Window,
    enrolment_pages,
)
from trustdata.adapters.csv_options import CsvExportOptions
from trustdata.adapters.csv_reports import ReportRecords, WholeSet
from trustdata.adapters.drop_folder import existing_folder, files_after
from trustdata.domain.records import PupilRecord

log = logging.getLogger(__name__)


def _unseen(
    records: Iterable[PupilRecord], seen: set[str], in_file: set[str]
) -> Iterator[PupilRecord]:
    """Skip pupils read from a newer file; note every pupil of this file in ``in_file``."""
    for record in records:
        key = record.upn or record.mis_id
        in_file.add(key)
        if key not in seen:
            yield record


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
    connection_proves: ClassVar[str] = (
        "the drop folder is readable and holds pupils or attendance reports"
    )
    uses_secret: ClassVar[bool] = False

    @cached_property
    def _reports(self) -> ReportRecords:
        return ReportRecords(self.options)

    def _folder(self) -> Path:
        return existing_folder(self.options.folder)

    def drop_patterns(self) -> tuple[Path, tuple[str, ...]]:
        """The folder and every report pattern the academy exports."""
        options = self.options
        patterns = (
            options.pupils_pattern,
            options.attendance_pattern,
            options.enrolments_pattern,
            options.characteristics_pattern,
            options.assessments_pattern,
            options.deletions_pattern,
        )
        return options.folder, tuple(p for p in patterns if p is not None)

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
            yield from self._pages(_unseen(self._reports.pupils(path, stamp), seen, in_file), stamp)
            skipped = len(in_file & seen)
            if skipped:
                log.info("%s: %d pupils skipped, read from a newer file", path.name, skipped)
            seen |= in_file

    def _fetch_enrolments(self, window: Window) -> Iterator[Page]:
        pattern = self.options.enrolments_pattern
        if pattern is not None:
            yield from self._whole_sets(pattern, window, self._reports.enrolments)
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
        yield from self._whole_sets(pattern, window, self._reports.characteristics, roll)

    def _fetch_marks(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.attendance_pattern, window):
            yield from self._pages(self._reports.marks(path, stamp), stamp)

    def _fetch_assessments(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.assessments_pattern, window):
            yield from self._pages(self._reports.results(path, stamp), stamp)

    def _fetch_deletions(self, window: Window) -> Iterator[Page]:
        for stamp, path in self._files(self.options.deletions_pattern, window):
            yield from self._pages(self._reports.deletions(path, stamp), stamp)

    def _whole_sets(
        self,
        pattern: str | None,
        window: Window,
        parse: Callable[[Path, datetime], WholeSet],
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

    def _roll(self) -> frozenset[str]:
        """The pupils of the newest pupils report, keyed as the other reports key pupils."""
        files = self._files(self.options.pupils_pattern, Window())
        if not files:
            log.warning("no pupils report: characteristics cover no pupil without periods")
            return frozenset()
        return self._reports.roll(files[-1][1])

    def _roll_covers(self, pupils: frozenset[str], stamp: datetime) -> Iterator[Page]:
        """One empty page covering each mapped characteristic of each of ``pupils``."""
        kinds = sorted({v for v in self.options.characteristic_types.values() if v is not None})
        covers = [(pupil, kind) for pupil in sorted(pupils) for kind in kinds]
        if covers:
            yield Page([], stamp, covers=covers)
