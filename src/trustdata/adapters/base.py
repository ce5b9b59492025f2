"""The adapter contract: what every MIS adapter declares and does.

An adapter declares its ``kind``, the ``streams`` it serves and a pydantic ``Options`` model for
its per-academy options, and implements one incremental ``fetch(stream, window)`` generator of
pages of canonical records. It never touches the warehouse or Airflow, and it takes its HTTP
client from the caller so tests inject a transport instead of patching the network.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from trustdata.domain.records import CHARACTERISTICS as CHARACTERISTICS
from trustdata.domain.records import REGISTRATIONS as REGISTRATIONS
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceMarkRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)


class Stream(StrEnum):
    """The data an adapter can be asked for, each with its canonical record type."""

    PUPILS = "pupils"  # PupilRecord: identity and characteristics as flags
    ENROLMENTS = "enrolments"  # EnrolmentRecord: periods on roll
    CHARACTERISTICS = "characteristics"  # CharacteristicPeriodRecord: FSM/CLA/PLAC/service
    ATTENDANCE = "attendance"  # AttendanceMarkRecord: session marks
    ATTENDANCE_SUMMARIES = "attendance_summaries"  # AttendanceSummaryRecord: yearly totals
    ASSESSMENTS = "assessments"  # AssessmentResultRecord: KS2/KS4 results
    DELETIONS = "deletions"  # DeletionRecord: objects the MIS says it deleted


class AdapterOptions(BaseModel):
    """Base of every adapter's options: unknown fields are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Window:
    """What to fetch: everything changed since the last published batch.

    Timestamp sources read ``updated_after``; change-log sources (Arbor's revisions) read
    ``cursor``, the opaque position their last published page returned. Both None: a full pull.
    ``as_at`` is the date a source that only knows dated periods judges "eligible now" flags on
    (the run's logical date; None: today). ``dates`` bounds a backfill: only marks dated inside
    (both ends included) are wanted; an adapter may filter on it at the source, and the
    pipeline drops any mark outside it either way.
    """

    updated_after: datetime | None = None
    cursor: str | None = None
    as_at: date | None = None
    dates: tuple[date, date] | None = None


Record = (
    PupilRecord
    | EnrolmentRecord
    | CharacteristicPeriodRecord
    | AttendanceMarkRecord
    | AttendanceSummaryRecord
    | AssessmentResultRecord
    | DeletionRecord
)

#: The record type each stream's pages hold.
RECORD_TYPES: dict[Stream, type[Record]] = {
    Stream.PUPILS: PupilRecord,
    Stream.ENROLMENTS: EnrolmentRecord,
    Stream.CHARACTERISTICS: CharacteristicPeriodRecord,
    Stream.ATTENDANCE: AttendanceMarkRecord,
    Stream.ATTENDANCE_SUMMARIES: AttendanceSummaryRecord,
    Stream.ASSESSMENTS: AssessmentResultRecord,
    Stream.DELETIONS: DeletionRecord,
}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of canonical records, the latest source timestamp among them, and (for
    change-log sources) the position in the change history after this page.

    ``covers`` serves the streams sent whole per pupil (enrolments, characteristic periods):
    (MIS pupil id, set) pairs whose complete set the batch holds, where the set is "" for
    enrolments and the characteristic for periods. Rows cover their own sets; list a set here
    when the source says it is now empty (an FSM history with no instances), so the pupil's
    stored rows are withdrawn. A set neither sent nor covered is left as stored.
    """

    records: Sequence[Record]
    watermark: datetime | None
    cursor: str | None = None
    covers: Sequence[tuple[str, str]] = ()


def enrolment_pages(pages: Iterable[Page]) -> Iterator[Page]:
    """Enrolments for a source that only records admission and leaving dates on the pupil.

    Each pupil with an admission date gives one single-registration enrolment (the MIS does not
    say otherwise); pages keep their watermark and cursor, so the stream is as incremental as
    the pupils it comes from.
    """
    for page in pages:
        records = [
            EnrolmentRecord(r.mis_id, r.admission_date, r.leaving_date, None, r.source_updated_at)
            for r in page.records
            if isinstance(r, PupilRecord) and r.admission_date is not None
        ]
        yield Page(records, page.watermark, page.cursor)


class AdapterError(Exception):
    """The MIS could not be read; the message says why and what to check (no pupil data)."""


OptionsT = TypeVar("OptionsT", bound=AdapterOptions)


class Adapter(ABC, Generic[OptionsT]):
    """Reads one academy's MIS."""

    kind: ClassVar[str]
    streams: ClassVar[frozenset[Stream]]
    Options: ClassVar[type[AdapterOptions]]
    #: What a passing ``check_connection`` proves, in words for the onboarding report.
    connection_proves: ClassVar[str] = "the MIS answered with these options and credential"
    #: False for sources that read files: the credential is still resolved, but not used.
    uses_secret: ClassVar[bool] = True
    #: Streams whose full read returns everything the MIS holds (the whole roll, every mark),
    #: so a periodic reconciliation may remove what such a read leaves out. A file export
    #: holds what it was saved with, so file adapters claim none.
    complete_reads: ClassVar[frozenset[Stream]] = frozenset()

    def __init__(self, *, options: OptionsT, secret: str, client: httpx.Client) -> None:
        self.options = options
        self._secret = secret
        self.client = client

    @abstractmethod
    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """Yield pages of canonical records for ``stream`` changed inside ``window``."""

    def source_key(self) -> str:
        """Which source history this adapter reads, e.g. ``wonde:A123``.

        Watermarks are positions in that history: when it changes (a new MIS, another school
        id) the stored watermark is ignored and the next sync is a full pull. Override it to
        name what identifies the source; tuning options must not change it.
        """
        return self.kind

    def drop_patterns(self) -> tuple[Path, tuple[str, ...]] | None:
        """For a file source: the drop folder and the glob patterns a new export lands in.

        Orchestration watches them and starts the academy's run when a file newer than its
        published watermark appears. None (the default): the source is not a folder.
        """
        return None

    def code_table(self) -> list[str] | None:
        """The register codes the MIS publishes as its code table, or None if it has none.

        Onboarding checks that every one maps onto a national code, not only those that
        happen to be in its sample of marks.
        """
        return None

    @abstractmethod
    def check_connection(self) -> None:
        """Raise AdapterError when the MIS cannot be reached with these options and secret."""

    def __repr__(self) -> str:
        # Never show the secret, even in a debugger or a traceback.
        return f"{type(self).__name__}(options={self.options!r})"
