"""DfE Common Transfer Files (CTF XML, version 20 or later) dropped into a folder.

Options (``adapter.options`` in the trust config):

- ``folder``: the academy's drop folder, an absolute path that must exist when a sync runs.
- ``pattern``: glob pattern of the CTF files inside the folder (default ``*.xml``).
- ``urn`` (required): the academy's URN. A CTF names the school it came from
  (``Header/SourceSchool/URN``), and a CTF received from a pupil's previous school holds that
  school's registers and enrolments; read as this academy's, they would be stored as ours. So a
  file whose ``SourceSchool/URN`` differs (that, or a file for another school dropped in the
  wrong folder) is rejected rather than read.
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
  An entry of this academy without an ``EntryDate`` is skipped, so the file does not hold that
  pupil's set whole: it is not covered, and their stored enrolments stay (counted in a log
  line).
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
record from it carries that time, and files are read newest first. For the streams sent whole
(pupils, enrolments, characteristics) a pupil (by UPN) read from a newer file is skipped in
older ones: a pupil's sets come from one file. Marks, attendance summaries and results are read
from every file: an older file may hold a year the newer one does not (last year's marks in a
summer file, this year's in an autumn one), and where both hold a row, the pipeline keeps the
newest by source timestamp, the file's.
Files need no secret; name any environment variable as ``credential``.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from trustdata.adapters.base import (
    Adapter,
    AdapterError,
    AdapterOptions,
    Page,
    Record,
    Stream,
    Window,
)
from trustdata.adapters.ctf_pupil import CtfPupil
from trustdata.adapters.ctf_xml import Header, find_container, read_header, read_sections
from trustdata.adapters.drop_folder import existing_folder, files_after

log = logging.getLogger(__name__)


class CtfOptions(AdapterOptions):
    """Options of an academy that drops CTF XML files into a folder."""

    folder: Path = Field(description="the academy's drop folder (absolute path)")
    pattern: str = Field(default="*.xml", min_length=1)
    # Required; the default only lets the check below say why, in place of "Field required".
    urn: str = Field(
        default="",
        validate_default=True,
        pattern=r"^\d{6}$",
        description="the academy's URN: files from other schools are rejected",
    )
    fsm6_as_at: date | None = None
    page_size: int = Field(default=2000, ge=1, le=100_000)

    @field_validator("urn", mode="before")
    @classmethod
    def _urn_given(cls, value: object) -> object:
        if value is None or value == "":
            raise ValueError(
                "required: a CTF names the school it came from, and the academy's URN tells "
                "its own files from others' (a CTF received from a pupil's previous school "
                "holds that school's marks and enrolments); set it to the academy's 6-digit URN"
            )
        return value


_Reader = Callable[[CtfPupil, Header, datetime], Iterable[Record]]
#: What each stream reads from a pupil.
_READERS: dict[Stream, _Reader] = {
    Stream.PUPILS: lambda pupil, header, stamp: [pupil.record(header, stamp)],
    Stream.ENROLMENTS: CtfPupil.enrolments,
    Stream.CHARACTERISTICS: CtfPupil.characteristics,
    Stream.ATTENDANCE: CtfPupil.marks,
    Stream.ATTENDANCE_SUMMARIES: CtfPupil.summaries,
    Stream.ASSESSMENTS: CtfPupil.assessments,
}
#: Streams sent whole per pupil: a pupil read from a newer file is skipped in older ones.
_NEWEST_FILE_WINS = frozenset({Stream.PUPILS, Stream.ENROLMENTS, Stream.CHARACTERISTICS})
#: Streams that cannot tell this academy's rows from other schools' without the header's LAESTAB.
_NEED_LAESTAB = (Stream.ENROLMENTS, Stream.ATTENDANCE)


class CtfAdapter(Adapter[CtfOptions]):
    """Pupils, enrolments, FSM periods, marks, attendance totals and results from CTF files."""

    kind: ClassVar[str] = "ctf"
    streams: ClassVar[frozenset[Stream]] = frozenset(_READERS)
    Options: ClassVar[type[AdapterOptions]] = CtfOptions
    connection_proves: ClassVar[str] = (
        "the drop folder is readable and its newest CTF has a header this adapter accepts"
    )
    uses_secret: ClassVar[bool] = False

    def _folder(self) -> Path:
        return existing_folder(self.options.folder)

    def _files(self, window: Window) -> list[tuple[datetime, Path]]:
        return files_after(self.options.folder, self.options.pattern, window.updated_after)

    def drop_patterns(self) -> tuple[Path, tuple[str, ...]]:
        """The folder and the CTF file pattern."""
        return self.options.folder, (self.options.pattern,)

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
        sections = read_sections(newest)
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
            skipped = len(in_file & seen) if stream in _NEWEST_FILE_WINS else 0
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
        sections = read_sections(path)
        header = self._header(path, sections)
        if header.laestab is None and stream in _NEED_LAESTAB:
            raise AdapterError(
                f"{path.name}: Header/SourceSchool/LEA and Estab (3 and 4 digits) are needed "
                f"to tell this academy's {stream.value} from other schools'"
            )
        read = _READERS[stream]
        undated = 0
        for index, elem in enumerate(sections, start=1):
            if elem.tag != "Pupil":
                raise AdapterError(f"{path.name}: a second Header after the pupils")
            pupil = CtfPupil(elem, path.name, index)
            in_file.add(pupil.mis_id)
            if pupil.mis_id in seen and stream in _NEWEST_FILE_WINS:
                continue
            # A container that is present holds the pupil's whole set, even with no entries.
            if stream is Stream.CHARACTERISTICS and find_container(elem, "FSMhistory") is not None:
                covers.add((pupil.mis_id, "fsm"))
            elif stream is Stream.ENROLMENTS and find_container(elem, "SchoolHistory") is not None:
                if pupil.undated_entries(header):
                    undated += 1  # the set is not whole here: leave it as stored
                else:
                    covers.add((pupil.mis_id, ""))
            yield from read(pupil, header, stamp)
        if undated:
            log.warning(
                "%s: %d pupils' enrolments left as stored (an entry at this academy without "
                "EntryDate)",
                path.name,
                undated,
            )

    def _header(self, path: Path, sections: Iterator[ET.Element]) -> Header:
        """Check the header that must open the file; return what pupils are read with."""
        return read_header(path, sections, urn=self.options.urn, fsm6_as_at=self.options.fsm6_as_at)
