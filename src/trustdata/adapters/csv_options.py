"""The CSV export adapter's options: drop folder, report patterns, column headers, value maps.

What each option means, and how the reports are read with them, is described in
:mod:`trustdata.adapters.csv_export`.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from trustdata.adapters.base import CHARACTERISTICS, REGISTRATIONS, AdapterOptions

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


def fold(text: str) -> str:
    """Text as value maps compare it: ignoring case and spaces."""
    return "".join(text.split()).casefold()


def _checked_map(mapping: dict[str, str | None], allowed: Sequence[str]) -> dict[str, str | None]:
    folded: dict[str, str] = {}
    for text, value in mapping.items():
        if value is not None and value not in allowed:
            raise ValueError(
                f"{text!r} maps to {value!r}: use one of {', '.join(allowed)}, or null"
            )
        same = folded.setdefault(fold(text), text)
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
