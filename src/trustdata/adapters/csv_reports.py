"""Each CSV report read into canonical records: pupils, enrolments, characteristic periods,
session marks, assessment results and deletions, with every report keyed as the options say.

Which report feeds which stream, and how files are ordered and paged, is the adapter's part:
see :mod:`trustdata.adapters.csv_export`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from trustdata.adapters.base import CHARACTERISTICS, REGISTRATIONS
from trustdata.adapters.csv_options import CsvExportOptions, PupilKeyColumns
from trustdata.adapters.csv_rows import ReportReader, ReportRow, ValueMap
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


#: The pupils a whole-set report names, and its records of them.
WholeSet = tuple[set[str], Sequence[EnrolmentRecord | CharacteristicPeriodRecord]]


class ReportRecords:
    """Reads one academy's reports into canonical records, as its options map them."""

    def __init__(self, options: CsvExportOptions) -> None:
        self.options = options

    def roll(self, path: Path) -> frozenset[str]:
        """The pupils of a pupils report, keyed as the other reports key pupils."""
        columns = self.options.pupil_columns
        by_upn = columns.mis_id is None
        field = "upn" if by_upn else "mis_id"
        name = columns.upn if columns.mis_id is None else columns.mis_id
        keys: set[str] = set()
        for row in ReportReader(path, self.options, "pupil_columns").rows({field: name}):
            if not by_upn:
                keys.add(row.key(field))
            elif upn := row.get(field).strip():  # no UPN: the pupil is quarantined anyway
                keys.add(upn.upper())
        return frozenset(keys)

    def _keyed_rows(
        self, path: Path, option: str, fields: Sequence[str]
    ) -> Iterator[tuple[str, ReportRow]]:
        """Rows of a report other than pupils, each with its pupil's key."""
        names: PupilKeyColumns = getattr(self.options, option)
        by_upn = self.options.pupil_columns.mis_id is None
        key_field = "upn" if by_upn else "mis_pupil_id"
        columns = {key_field: getattr(names, key_field)}
        columns |= {f: getattr(names, f) for f in fields if getattr(names, f) is not None}
        for row in ReportReader(path, self.options, option).rows(columns):
            key = row.key(key_field)
            yield (key.upper() if by_upn else key), row

    def pupils(self, path: Path, stamp: datetime) -> Iterator[PupilRecord]:
        """The pupils of a pupils report."""
        mapping = self.options.pupil_columns.model_dump()
        columns = {field: name for field, name in mapping.items() if name is not None}
        for row in ReportReader(path, self.options, "pupil_columns").rows(columns):
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

    def enrolments(self, path: Path, stamp: datetime) -> WholeSet:
        """The pupils an enrolments report names, and their enrolments."""
        values = ValueMap(self.options.registration_values, "registration_values", REGISTRATIONS)
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

    def characteristics(self, path: Path, stamp: datetime) -> WholeSet:
        """The pupils a periods report names, and their mapped periods."""
        types = ValueMap(self.options.characteristic_types, "characteristic_types", CHARACTERISTICS)
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

    def marks(self, path: Path, stamp: datetime) -> Iterator[AttendanceMarkRecord]:
        """The session marks of an attendance report, codes as written."""
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

    def results(self, path: Path, stamp: datetime) -> Iterator[AssessmentResultRecord]:
        """The results of an assessments report; rows without a result are skipped."""
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

    def deletions(self, path: Path, stamp: datetime) -> Iterator[DeletionRecord]:
        """The pupils a deletions report names, dated by the file when undated."""
        for key, row in self._keyed_rows(path, "deletion_columns", ("deleted_at",)):
            yield DeletionRecord("pupil", key, row.moment("deleted_at") or stamp)
