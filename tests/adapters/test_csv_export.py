"""The CSV export adapter over generated SIMS-like reports, then through the real pipeline.

Every fixture is synthetic: UPNs come from ``make_upn``, admission numbers are counters, and no
names are written at all.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, select

from tests.helpers import count, one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.base import AdapterError, Page, Stream, Window
from trustdata.adapters.csv_export import CsvExportAdapter
from trustdata.adapters.csv_options import CsvExportOptions
from trustdata.config.trust import ConfigError, load_trust_config
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceMarkRecord,
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)
from trustdata.domain.upn import make_upn
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import (
    assessment_results,
    attendance_marks,
    characteristic_periods,
    enrolments,
    pupils,
    quarantine,
)

PUPIL_HEADER = [
    "Adno", "UPN", "Reg", "DOB", "Gender", "Year", "FSM", "FSM6", "In Care", "Post LAC",
    "Service Child", "SEN Status", "EAL", "Admission Date", "Leaving Date",
]  # fmt: skip
MARK_HEADER = ["Adno", "UPN", "Date", "Session", "Mark"]
ENROLMENT_HEADER = ["Adno", "UPN", "Start Date", "End Date", "Enrolment Status"]
PERIOD_HEADER = ["Adno", "UPN", "Type", "Start Date", "End Date"]
RESULT_HEADER = [
    "Adno", "UPN", "Key Stage", "Assessment Year", "Subject", "Method", "Component", "Result",
]  # fmt: skip
DELETION_HEADER = ["Adno", "UPN", "Deleted On"]
MON, TUE = date(2025, 9, 8), date(2025, 9, 9)
EARLY = datetime(2025, 9, 8, 18, 0, tzinfo=UTC)
LATE = datetime(2025, 9, 9, 18, 0, tzinfo=UTC)


def upn(n: int) -> str:
    """A made-up but valid UPN."""
    return make_upn(990, 3001, 20, n)


def pupil_row(n: int, *, dob: str = "01/03/2016", fsm6: str = "N") -> list[str]:
    """A SIMS-like pupil row with made-up values (no names)."""
    year = "Year 5" if n % 2 else "R"
    return [
        f"{1000 + n}", upn(n), "5A", dob, "F" if n % 2 else "M", year, "No", fsm6, "N",
        "N", "N", "N", "Other than English", "01/09/2021", "",
    ]  # fmt: skip


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    when: datetime | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> Path:
    """Write a report as Excel saves it (BOM, CRLF) and set its modification time."""
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def marks_rows(pupils: Sequence[int], days: Sequence[date]) -> list[list[str]]:
    """Present marks for every pupil, day and session, as SIMS writes them."""
    return [
        [f"{1000 + n}", upn(n), f"{day:%d/%m/%Y}", session, "/" if session == "AM" else "\\"]
        for n in pupils
        for day in days
        for session in ("AM", "PM")
    ]


def keyed(n: int, *cells: str) -> list[str]:
    """A row of a report keyed by pupil ``n`` (admission number and UPN first)."""
    return [f"{1000 + n}", upn(n), *cells]


#: Pupil 1 had free meals twice, pupil 2 is in care; both have results. Made up.
PERIOD_ROWS = [
    keyed(1, "FSM", "01/09/2021", "31/08/2023"),
    keyed(1, "Free School Meals", "01/01/2025", ""),
    keyed(2, "In Care", "01/04/2024", ""),
]
RESULT_ROWS = [
    keyed(1, "KS1", "2023", "Reading", "TA", "", "EXS"),
    keyed(1, "KS1", "2023", "Mathematics", "TA", "", "WTS"),
    keyed(3, "KS1", "2023", "Reading", "TA", "", "GDS"),
]


def write_drop_folder(folder: Path) -> dict[str, Any]:
    """A drop folder with every report (enrolments come from the pupils report); returns the
    options. The deletions report names a pupil removed before the pupils report was saved."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "pupils.csv", PUPIL_HEADER, [pupil_row(n) for n in (1, 2, 3)], when=EARLY)
    write_csv(folder / "attendance_wk1.csv", MARK_HEADER, marks_rows((1, 2, 3), (MON,)), when=EARLY)
    write_csv(folder / "characteristics.csv", PERIOD_HEADER, PERIOD_ROWS, when=EARLY)
    write_csv(folder / "assessments.csv", RESULT_HEADER, RESULT_ROWS, when=EARLY)
    deleted = [keyed(9, "05/09/2025 14:30")]
    write_csv(folder / "deletions.csv", DELETION_HEADER, deleted, when=EARLY)
    return {"folder": str(folder)}


def adapter(**options: Any) -> CsvExportAdapter:
    with httpx.Client() as client:  # unused by file adapters; the contract requires one
        return CsvExportAdapter(
            options=CsvExportOptions.model_validate(options), secret="none", client=client
        )


def read(adapter_: CsvExportAdapter, stream: Stream, after: datetime | None = None) -> list[Page]:
    return list(adapter_.fetch(stream, Window(updated_after=after)))


def records(pages: list[Page]) -> list[Any]:
    return [record for page in pages for record in page.records]


def test_full_read_of_pupils_and_attendance(tmp_path: Path) -> None:
    source = adapter(**write_drop_folder(tmp_path / "drop"))
    source.check_connection()
    roll = records(read(source, Stream.PUPILS))
    assert [p.mis_id for p in roll] == ["1001", "1002", "1003"]
    first = roll[0]
    assert isinstance(first, PupilRecord)
    assert (first.upn, first.date_of_birth, first.nc_year) == (upn(1), date(2016, 3, 1), 5)
    assert (first.fsm_eligible, first.fsm6, first.in_care, first.eal) == (False, False, False, True)
    assert (first.admission_date, first.leaving_date) == (date(2021, 9, 1), None)
    assert roll[1].nc_year == 0 and first.source_updated_at == EARLY
    marks = records(read(source, Stream.ATTENDANCE))
    assert len(marks) == 6 and all(isinstance(m, AttendanceMarkRecord) for m in marks)
    assert marks[:2] == [
        AttendanceMarkRecord(None, "1001", MON, "AM", "/", EARLY),
        AttendanceMarkRecord(None, "1001", MON, "PM", "\\", EARLY),
    ]


def test_pages_respect_page_size_and_carry_the_file_mtime(tmp_path: Path) -> None:
    source = adapter(**write_drop_folder(tmp_path), page_size=4)
    pages = read(source, Stream.ATTENDANCE)
    assert [len(p.records) for p in pages] == [4, 2]
    assert {p.watermark for p in pages} == {EARLY}


def test_sessions_and_codes_are_normalised_but_not_mapped(tmp_path: Path) -> None:
    rows = [[f"{1000 + i}", upn(i), "08/09/2025", s, f" {c} "] for i, (s, c) in enumerate(
        [("am", "I9"), ("P", "N"), ("Morning", "/"), ("Afternoon", "L"), ("Eve", "/")], start=1
    )]  # fmt: skip
    write_csv(tmp_path / "attendance.csv", MARK_HEADER, rows)
    marks = records(read(adapter(folder=str(tmp_path)), Stream.ATTENDANCE))
    assert [(m.session, m.source_code) for m in marks] == [
        ("AM", "I9"), ("PM", "N"), ("AM", "/"), ("PM", "L"), ("EVE", "/"),
    ]  # fmt: skip


def test_incremental_read_by_modification_time(tmp_path: Path) -> None:
    write_csv(tmp_path / "attendance_wk2.csv", MARK_HEADER, marks_rows((1,), (TUE,)), when=LATE)
    write_csv(tmp_path / "attendance_wk1.csv", MARK_HEADER, marks_rows((1,), (MON,)), when=EARLY)
    source = adapter(folder=str(tmp_path))
    everything = read(source, Stream.ATTENDANCE)
    assert [p.watermark for p in everything] == [EARLY, LATE]  # oldest file first
    newer = records(read(source, Stream.ATTENDANCE, after=EARLY))
    assert {m.mark_date for m in newer} == {TUE}
    assert read(source, Stream.ATTENDANCE, after=LATE) == []


def test_a_pupil_in_two_reports_is_read_once_from_the_newer(tmp_path: Path) -> None:
    write_csv(tmp_path / "pupils_old.csv", PUPIL_HEADER, [pupil_row(1), pupil_row(2)], when=EARLY)
    newer = [pupil_row(1, fsm6="Y")]
    write_csv(tmp_path / "pupils_new.csv", PUPIL_HEADER, newer, when=LATE)
    roll = records(read(adapter(folder=str(tmp_path)), Stream.PUPILS))
    assert [(p.mis_id, p.fsm6, p.source_updated_at) for p in roll] == [
        ("1001", True, LATE),
        ("1002", False, EARLY),
    ]


def test_excel_byte_order_mark_is_fine(tmp_path: Path) -> None:
    write_drop_folder(tmp_path)
    assert (tmp_path / "pupils.csv").read_bytes().startswith(b"\xef\xbb\xbfAdno")
    assert len(records(read(adapter(folder=str(tmp_path)), Stream.PUPILS))) == 3


def test_custom_column_mapping(tmp_path: Path) -> None:
    header = ["Pupil UPN", "Admission No", "Birth Date", "NCY", "Pupil Premium FSM6"]
    rows = [[upn(7), "A7", "2016-03-01", "Y4", "Yes"]]
    write_csv(tmp_path / "roll export.txt", header, rows, delimiter=";", encoding="cp1252")
    columns = {"upn": "pupil upn", "mis_id": "Admission No", "date_of_birth": "Birth Date"}
    columns |= {"nc_year": "NCY", "fsm6": "Pupil Premium FSM6"}
    unused = ["gender", "fsm_eligible", "in_care", "previously_in_care", "service_child"]
    unused += ["sen_status", "eal", "admission_date", "leaving_date"]
    options = {"pupil_columns": columns | dict.fromkeys(unused), "pupils_pattern": "roll*.txt"}
    source = adapter(folder=str(tmp_path), delimiter=";", encoding="cp1252", **options)
    (pupil,) = records(read(source, Stream.PUPILS))
    assert (pupil.mis_id, pupil.upn, pupil.date_of_birth) == ("A7", upn(7), date(2016, 3, 1))
    assert (pupil.nc_year, pupil.fsm6, pupil.gender, pupil.eal) == (4, True, None, None)


def test_unknown_column_option_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"pupil_columns\.surname"):
        CsvExportOptions.model_validate({"folder": "/x", "pupil_columns": {"surname": "Surname"}})


def test_missing_column_names_file_column_and_option(tmp_path: Path) -> None:
    header = [h for h in PUPIL_HEADER if h != "FSM6"]
    write_csv(tmp_path / "pupils.csv", header, [pupil_row(1)[:7] + pupil_row(1)[8:]])
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path)), Stream.PUPILS)
    message = str(caught.value)
    assert message.startswith("pupils.csv: no column 'FSM6'")
    assert "pupil_columns.fsm6" in message and str(tmp_path) not in message


def test_bad_date_names_file_line_and_column_but_not_the_value(tmp_path: Path) -> None:
    rows = [pupil_row(1), pupil_row(2, dob="31/02/2016")]
    write_csv(tmp_path / "pupils.csv", PUPIL_HEADER, rows)
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path)), Stream.PUPILS)
    message = str(caught.value)
    assert message.startswith("pupils.csv: line 3, column 'DOB' is not a date")
    assert "31/02" not in message and upn(2) not in message and str(tmp_path) not in message


def test_upn_serves_as_mis_id_when_reports_have_none(tmp_path: Path) -> None:
    header = [h for h in PUPIL_HEADER if h != "Adno"]
    write_csv(tmp_path / "pupils.csv", header, [pupil_row(1)[1:], pupil_row(2)[1:]])
    marks = [[upn(1).lower(), "08/09/2025", "AM", "/"]]
    write_csv(tmp_path / "attendance.csv", ["UPN", "Date", "Session", "Mark"], marks)
    source = adapter(folder=str(tmp_path), pupil_columns={"mis_id": None})
    assert [p.mis_id for p in records(read(source, Stream.PUPILS))] == [upn(1), upn(2)]
    assert [m.mis_pupil_id for m in records(read(source, Stream.ATTENDANCE))] == [upn(1)]


def test_missing_mis_id_column_says_how_to_key_by_upn(tmp_path: Path) -> None:
    header = [h for h in PUPIL_HEADER if h != "Adno"]
    write_csv(tmp_path / "pupils.csv", header, [pupil_row(1)[1:]])
    with pytest.raises(AdapterError, match=r"no column 'Adno'.*pupil_columns\.mis_id.*null"):
        read(adapter(folder=str(tmp_path)), Stream.PUPILS)


def test_empty_folder(tmp_path: Path) -> None:
    source = adapter(folder=str(tmp_path))
    assert read(source, Stream.PUPILS) == [] and read(source, Stream.ATTENDANCE) == []
    with pytest.raises(AdapterError, match=r"option 'folder': no file matches 'pupils\*\.csv'"):
        source.check_connection()


def test_missing_folder_names_the_option(tmp_path: Path) -> None:
    source = adapter(folder=str(tmp_path / "not-mounted"))
    with pytest.raises(AdapterError, match=r"option 'folder': .* is not an existing folder"):
        read(source, Stream.PUPILS)
    with pytest.raises(AdapterError, match="option 'folder'"):
        source.check_connection()


def test_bad_option_in_trust_config_names_the_field(tmp_path: Path) -> None:
    path = csv_trust_config(tmp_path, tmp_path / "drop")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["academies"][0]["adapter"]["options"]["attendance_columns"] = {"pupil": "Adno"}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"options\.attendance_columns\.pupil: unknown field"):
        load_trust_config(path)


# --- enrolments, characteristic periods, assessment results and deletions -----------------------

UK = ZoneInfo("Europe/London")


def test_full_read_of_the_other_streams(tmp_path: Path) -> None:
    source = adapter(**write_drop_folder(tmp_path))
    joined = EnrolmentRecord("1001", date(2021, 9, 1), None, None, EARLY)
    assert records(read(source, Stream.ENROLMENTS))[0] == joined
    assert [r.mis_pupil_id for r in records(read(source, Stream.ENROLMENTS))] == [
        "1001", "1002", "1003",
    ]  # fmt: skip
    assert records(read(source, Stream.CHARACTERISTICS)) == [
        CharacteristicPeriodRecord("1001", "fsm", date(2021, 9, 1), date(2023, 8, 31), EARLY),
        CharacteristicPeriodRecord("1001", "fsm", date(2025, 1, 1), None, EARLY),
        CharacteristicPeriodRecord("1002", "cla", date(2024, 4, 1), None, EARLY),
    ]
    results = records(read(source, Stream.ASSESSMENTS))
    assert results[0] == AssessmentResultRecord(
        "1001", "KS1", 2023, "Reading", "TA", "", "EXS", EARLY
    )
    assert len(results) == 3
    deleted_at = datetime(2025, 9, 5, 14, 30, tzinfo=UK)
    assert records(read(source, Stream.DELETIONS)) == [DeletionRecord("pupil", "1009", deleted_at)]


def test_derived_enrolments_are_as_incremental_as_pupils(tmp_path: Path) -> None:
    options = write_drop_folder(tmp_path)
    assert read(adapter(**options), Stream.ENROLMENTS, after=EARLY) == []
    no_dates = {"admission_date": None, "leaving_date": None}
    source = adapter(**options, pupil_columns=no_dates)
    assert records(read(source, Stream.ENROLMENTS)) == []  # stated in config, and logged


def test_enrolments_report_maps_registration_text(tmp_path: Path) -> None:
    rows = [
        keyed(1, "01/09/2021", "", "Single Registration"),
        keyed(2, "2024-01-08", "19/07/2024", "main"),
        keyed(2, "02/09/2024", "", "  Guest "),
        keyed(3, "01/09/2021", "", ""),
    ]
    write_csv(tmp_path / "enrolments.csv", ENROLMENT_HEADER, rows, when=EARLY)
    source = adapter(folder=str(tmp_path), enrolments_pattern="enrolments*.csv")
    assert records(read(source, Stream.ENROLMENTS)) == [
        EnrolmentRecord("1001", date(2021, 9, 1), None, "single", EARLY),
        EnrolmentRecord("1002", date(2024, 1, 8), date(2024, 7, 19), "main", EARLY),
        EnrolmentRecord("1002", date(2024, 9, 2), None, "subsidiary", EARLY),
        EnrolmentRecord("1003", date(2021, 9, 1), None, None, EARLY),
    ]


def test_unmapped_registration_text_is_listed_with_counts(tmp_path: Path) -> None:
    # One text three times: a category label, listed (each text repeats 3 times on average).
    texts = ["Visitor", "C", "visitor", "VISITOR "]
    rows = [keyed(n, "01/09/2021", "", text) for n, text in enumerate(texts)]
    write_csv(tmp_path / "enrolments.csv", ENROLMENT_HEADER, rows)
    source = adapter(folder=str(tmp_path), enrolments_pattern="enrolments*.csv")
    with pytest.raises(AdapterError) as caught:
        read(source, Stream.ENROLMENTS)
    assert str(caught.value) == (
        "enrolments.csv: column 'Enrolment Status' has text registration_values does not map: "
        "'Visitor' x 3 (first on line 2) (add each to registration_values as one of single, "
        "main, subsidiary, or null to leave it out)"
    )


def test_unmapped_texts_that_do_not_repeat_are_counted_not_listed(tmp_path: Path) -> None:
    """A small report whose registration column is mapped to the surnames: few texts, but
    each once, as names are and labels are not. Only counts and line numbers are given."""
    surnames = ["Testname", "Madeupson", "Fakely", "Testname"]
    rows = [
        [*keyed(n, "01/09/2021", "", "Single"), surname] for n, surname in enumerate(surnames, 1)
    ]
    write_csv(tmp_path / "enrolments.csv", [*ENROLMENT_HEADER, "Surname"], rows)
    columns = {"registration": "Surname"}  # a slip: the surname column named as the status
    source = adapter(
        folder=str(tmp_path), enrolments_pattern="enrolments*.csv", enrolment_columns=columns
    )
    with pytest.raises(AdapterError) as caught:
        read(source, Stream.ENROLMENTS)
    message = str(caught.value)
    assert message == (
        "enrolments.csv: column 'Surname' has 4 rows whose text registration_values does not "
        "map (3 different texts), first on lines 2, 3, 4, 5; the texts are not listed, since "
        "they do not repeat as category labels do and may be pupil data (check that "
        "enrolment_columns.registration names the right column, then add each to "
        "registration_values as one of single, main, subsidiary, or null to leave it out)"
    )
    assert not any(name in message for name in surnames)


def test_characteristic_types_are_per_academy_and_null_leaves_a_type_out(tmp_path: Path) -> None:
    rows = [keyed(1, "Pupil Premium (FSM)", "01/09/2024", ""), keyed(1, "SEN", "01/09/2024", "")]
    write_csv(
        tmp_path / "fsm history.csv", ["Adno", "Kind", "From", "To"], [r[:1] + r[2:] for r in rows]
    )
    options = {
        "characteristics_pattern": "fsm history*.csv",
        "characteristic_columns": {
            "characteristic": "kind",
            "start_date": "From",
            "end_date": "To",
        },
        "characteristic_types": {"pupil premium (FSM)": "fsm", "SEN": None},
    }
    (period,) = records(read(adapter(folder=str(tmp_path), **options), Stream.CHARACTERISTICS))
    assert (period.mis_pupil_id, period.characteristic, period.start_date) == (
        "1001", "fsm", date(2024, 9, 1),
    )  # fmt: skip


def test_unknown_characteristic_type_is_an_error_not_a_skip(tmp_path: Path) -> None:
    rows = [*PERIOD_ROWS, keyed(3, "Young Carer", "01/09/2024", ""), keyed(2, "EAL", "", "")]
    rows.append(keyed(1, "Young  carer", "01/09/2024", ""))
    rows += [keyed(1, "EAL", "", ""), keyed(2, "young carer", "01/09/2024", "")]
    rows.append(keyed(3, "eal", "", ""))
    write_csv(tmp_path / "characteristics.csv", PERIOD_HEADER, rows)
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path)), Stream.CHARACTERISTICS)
    message = str(caught.value)
    assert message.startswith(
        "characteristics.csv: column 'Type' has text characteristic_types does not map: "
        "'Young Carer' x 3 (first on line 5), 'EAL' x 3 (first on line 6) (add each to "
        "characteristic_types as one of fsm, cla, plac, service_child"
    )
    assert upn(3) not in message and "1003" not in message


def test_a_wrongly_mapped_type_column_does_not_list_its_cells(tmp_path: Path) -> None:
    rows = [keyed(n, "FSM", "01/09/2024", "") for n in range(1, 13)]
    write_csv(tmp_path / "characteristics.csv", PERIOD_HEADER, rows)
    columns = {"characteristic": "UPN"}  # a slip: the UPN column named as the type
    source = adapter(folder=str(tmp_path), characteristic_columns=columns)
    with pytest.raises(AdapterError) as caught:
        read(source, Stream.CHARACTERISTICS)
    message = str(caught.value)
    assert "12 different texts" in message and "characteristic_columns.characteristic" in message
    assert "first on lines 2, 3, 4, 5, 6; the texts are not listed" in message
    assert not any(upn(n) in message for n in range(1, 13))


def test_newest_file_holds_a_pupils_whole_set(tmp_path: Path) -> None:
    write_csv(tmp_path / "characteristics_sep.csv", PERIOD_HEADER, PERIOD_ROWS, when=EARLY)
    corrected = [keyed(1, "FSM", "01/01/2025", "")]  # the 2021 period was entered in error
    write_csv(tmp_path / "characteristics_oct.csv", PERIOD_HEADER, corrected, when=LATE)
    pages = read(adapter(folder=str(tmp_path)), Stream.CHARACTERISTICS)
    assert [p.watermark for p in pages] == [LATE, EARLY]  # newest file first
    assert [(r.mis_pupil_id, r.start_date, r.source_updated_at) for r in records(pages)] == [
        ("1001", date(2025, 1, 1), LATE),
        ("1002", date(2024, 4, 1), EARLY),
    ]
    newer = records(read(adapter(folder=str(tmp_path)), Stream.CHARACTERISTICS, after=EARLY))
    assert [r.start_date for r in newer] == [date(2025, 1, 1)]


def test_newest_enrolments_file_holds_a_pupils_whole_set(tmp_path: Path) -> None:
    old = [keyed(1, "01/09/2021", "", "C"), keyed(2, "01/09/2021", "", "C")]
    write_csv(tmp_path / "enrolments_1.csv", ENROLMENT_HEADER, old, when=EARLY)
    new = [keyed(1, "02/09/2021", "", "C"), keyed(1, "01/01/2025", "", "S")]
    write_csv(tmp_path / "enrolments_2.csv", ENROLMENT_HEADER, new, when=LATE)
    source = adapter(folder=str(tmp_path), enrolments_pattern="enrolments*.csv")
    read_back = records(read(source, Stream.ENROLMENTS))
    assert [(r.mis_pupil_id, r.start_date, r.registration) for r in read_back] == [
        ("1001", date(2021, 9, 2), "single"),
        ("1001", date(2025, 1, 1), "subsidiary"),
        ("1002", date(2021, 9, 1), "single"),
    ]


def test_a_report_complete_for_the_roll_covers_every_pupil_on_it(tmp_path: Path) -> None:
    write_csv(tmp_path / "pupils.csv", PUPIL_HEADER, [pupil_row(n) for n in (1, 2, 3)], when=LATE)
    left = keyed(4, "FSM", "01/09/2022", "")  # a pupil no longer on roll
    write_csv(tmp_path / "characteristics_sep.csv", PERIOD_HEADER, [*PERIOD_ROWS, left], when=EARLY)
    # Pupil 1's free-meals periods were removed from the MIS: the newer report lists none.
    write_csv(tmp_path / "characteristics_oct.csv", PERIOD_HEADER, [PERIOD_ROWS[2]], when=LATE)
    kinds = ["cla", "fsm", "plac", "service_child"]
    on_roll = [(f"{1000 + n}", kind) for n in (1, 2, 3) for kind in kinds]

    source = adapter(folder=str(tmp_path), characteristics_complete_for_roll=True)
    pages = read(source, Stream.CHARACTERISTICS)
    assert [(p.watermark, len(p.records), list(p.covers)) for p in pages] == [
        (LATE, 1, []), (LATE, 0, on_roll), (EARLY, 1, []),
    ]  # fmt: skip
    # The older file gives only the pupil not on roll: the newer one holds the others whole.
    assert [(r.mis_pupil_id, r.start_date) for r in records(pages)] == [
        ("1002", date(2024, 4, 1)), ("1004", date(2022, 9, 1)),
    ]  # fmt: skip
    assert [p.covers for p in read(source, Stream.CHARACTERISTICS, after=EARLY)][-1] == on_roll

    default = read(adapter(folder=str(tmp_path)), Stream.CHARACTERISTICS)
    assert not any(p.covers for p in default)
    assert [r.mis_pupil_id for r in records(default)] == ["1002", "1001", "1001", "1004"]


def test_roll_covers_key_by_upn_and_only_the_mapped_characteristics(tmp_path: Path) -> None:
    write_csv(tmp_path / "pupils.csv", PUPIL_HEADER[1:], [pupil_row(n)[1:] for n in (1, 2)])
    write_csv(tmp_path / "characteristics.csv", PERIOD_HEADER[1:], [keyed(2, "SEN", "", "")[1:]])
    source = adapter(
        folder=str(tmp_path),
        pupil_columns={"mis_id": None},
        characteristic_types={"FSM": "fsm", "SEN": None},
        characteristics_complete_for_roll=True,
    )
    (page,) = read(source, Stream.CHARACTERISTICS)
    assert page.records == [] and page.covers == [(upn(1), "fsm"), (upn(2), "fsm")]


@pytest.mark.parametrize(
    ("stream", "name", "header", "missing", "hint"),
    [
        (Stream.CHARACTERISTICS, "characteristics.csv", PERIOD_HEADER, "Type",
         "characteristic_columns.characteristic to the report's header)"),
        (Stream.ASSESSMENTS, "assessments.csv", RESULT_HEADER, "Component",
         "assessment_columns.component to the report's header, or to null if the report"),
        (Stream.DELETIONS, "deletions.csv", DELETION_HEADER, "Adno",
         "deletion_columns.mis_pupil_id to the report's header, or set pupil_columns.mis_id"),
        (Stream.ENROLMENTS, "enrolments.csv", ENROLMENT_HEADER, "Enrolment Status",
         "enrolment_columns.registration to the report's header, or to null"),
    ],
)  # fmt: skip
def test_missing_column_names_file_column_and_option_per_report(
    tmp_path: Path, stream: Stream, name: str, header: list[str], missing: str, hint: str
) -> None:
    write_csv(tmp_path / name, [h for h in header if h != missing], [])
    source = adapter(folder=str(tmp_path), enrolments_pattern="enrolments*.csv")
    with pytest.raises(AdapterError) as caught:
        read(source, stream)
    assert str(caught.value).startswith(f"{name}: no column {missing!r} (set {hint}")


def test_assessment_spellings_and_rows_without_a_result(tmp_path: Path) -> None:
    rows = [
        keyed(1, "Key Stage 2", "2024/25", "Reading", "tt", "", " 104 "),
        keyed(2, "2", "2025", "Mathematics", "TT", "Arithmetic", "B"),
        keyed(3, "KS2", "2025", "Reading", "TT", "", ""),  # no result: not a result
    ]
    write_csv(tmp_path / "assessments.csv", RESULT_HEADER, rows)
    read_back = records(read(adapter(folder=str(tmp_path)), Stream.ASSESSMENTS))
    assert [
        (r.key_stage, r.assessment_year, r.method, r.component, r.result) for r in read_back
    ] == [
        ("KS2", 2025, "TT", "", "104"),
        ("KS2", 2025, "TT", "Arithmetic", "B"),
    ]


@pytest.mark.parametrize(
    ("cells", "column", "problem"),
    [
        (("KS2", "2024/26", "Reading", "TT", "", "101"), "Assessment Year", "is not a year"),
        (("KS2", "2025", "", "TT", "", "101"), "Subject", "is empty"),
        (("KS2", "2025", "Reading", "", "", "101"), "Method", "is empty"),
    ],
)
def test_bad_assessment_cells_name_line_and_column(
    tmp_path: Path, cells: tuple[str, ...], column: str, problem: str
) -> None:
    write_csv(tmp_path / "assessments.csv", RESULT_HEADER, [RESULT_ROWS[0], keyed(2, *cells)])
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path)), Stream.ASSESSMENTS)
    message = str(caught.value)
    assert message.startswith(f"assessments.csv: line 3, column {column!r} {problem}")
    assert upn(2) not in message and "2024/26" not in message


def test_deletions_are_dated_as_uk_time_or_by_their_file(tmp_path: Path) -> None:
    rows = [keyed(1, "09/09/2025"), keyed(2, ""), keyed(3, "2025-09-09T08:00:00+00:00")]
    write_csv(tmp_path / "deletions.csv", DELETION_HEADER, rows, when=LATE)
    assert [
        r.deleted_at for r in records(read(adapter(folder=str(tmp_path)), Stream.DELETIONS))
    ] == [
        datetime(2025, 9, 9, tzinfo=UK),
        LATE,
        datetime(2025, 9, 9, 8, tzinfo=UTC),
    ]
    undated = adapter(folder=str(tmp_path), deletion_columns={"deleted_at": None})
    assert {r.deleted_at for r in records(read(undated, Stream.DELETIONS))} == {LATE}
    write_csv(tmp_path / "deletions.csv", DELETION_HEADER, [keyed(1, "yesterday")])
    with pytest.raises(AdapterError, match=r"^deletions.csv: line 2, column 'Deleted On' is not"):
        read(adapter(folder=str(tmp_path)), Stream.DELETIONS)


def test_every_report_keys_pupils_by_upn_when_reports_have_no_mis_id(tmp_path: Path) -> None:
    write_csv(tmp_path / "characteristics.csv", PERIOD_HEADER[1:], [r[1:] for r in PERIOD_ROWS])
    write_csv(tmp_path / "assessments.csv", RESULT_HEADER[1:], [r[1:] for r in RESULT_ROWS])
    write_csv(tmp_path / "deletions.csv", ["upn"], [[upn(9).lower()]])
    source = adapter(
        folder=str(tmp_path), pupil_columns={"mis_id": None}, deletion_columns={"deleted_at": None}
    )
    for stream in (Stream.CHARACTERISTICS, Stream.ASSESSMENTS):
        assert {r.mis_pupil_id for r in records(read(source, stream))} <= {upn(1), upn(2), upn(3)}
    assert [r.mis_id for r in records(read(source, Stream.DELETIONS))] == [upn(9)]


def test_a_report_not_configured_or_not_there_gives_no_records(tmp_path: Path) -> None:
    options = write_drop_folder(tmp_path)
    off = adapter(**options, characteristics_pattern=None, assessments_pattern=None)
    assert read(off, Stream.CHARACTERISTICS) == [] and read(off, Stream.ASSESSMENTS) == []
    absent = adapter(**options, deletions_pattern="removed*.csv")
    assert read(absent, Stream.DELETIONS) == []


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"characteristic_types": {"FSM": "free_meals"}}, r"'FSM' maps to 'free_meals': use one"),
        ({"registration_values": {"Main": "main", "MAIN ": "single"}}, "map differently"),
        ({"deletions_pattern": "pupils*.csv"}, "pupils_pattern and deletions_pattern must differ"),
        (
            {"characteristics_pattern": None, "characteristics_complete_for_roll": True},
            "characteristics_complete_for_roll needs characteristics_pattern",
        ),
    ],
)
def test_bad_value_maps_and_patterns_are_config_errors(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CsvExportOptions.model_validate({"folder": "/x", **options})


# --- end to end: land -> audit -> publish into PostgreSQL ---------------------------------------

ACADEMY = "csvacademy"


def csv_trust_config(
    folder: Path, drop: Path, *, code_map: dict[str, str] | None = None, **options: Any
) -> Path:
    """A one-academy trust config whose academy drops CSV reports into ``drop``."""
    return one_academy_config(
        folder,
        academy_id=ACADEMY,
        urn="990901",
        kind="csv",
        options={"folder": str(drop), **options},
        credential_env="TD_CSV_NO_SECRET",  # files need none; any value will do
        code_map=code_map,
    )


def sync(config: Path, stream: str) -> dict[str, Any]:
    return sync_stream(config, ACADEMY, stream)


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TD_CSV_NO_SECRET", "none")
    write_drop_folder(tmp_path / "drop")
    rows = marks_rows((1, 2, 3), (TUE,))
    rows[0][-1] = rows[1][-1] = "I9"  # an MIS sub-code for illness, not a national code
    write_csv(tmp_path / "drop" / "attendance_wk2.csv", MARK_HEADER, rows, when=LATE)
    return tmp_path / "drop"


def test_sync_through_the_pipeline_and_an_unmapped_code_blocks(
    tmp_path: Path, drop: Path, engine: Engine
) -> None:
    config = csv_trust_config(tmp_path, drop)
    orchestration.prepare_warehouse(config_path=str(config))
    first = sync(config, "pupils")
    assert first["rows_published"] == 3 and first["watermark"] == EARLY.isoformat()
    assert sync(config, "pupils")["rows_landed"] == 0  # no newer report
    landed = orchestration.land_stream(
        academy_id=ACADEMY, stream="attendance", config_path=str(config)
    )
    assert landed["rows_landed"] == 12
    with pytest.raises(BatchBlocked, match=r"'I9' x 2 .*code_map"):
        orchestration.audit_stream(batch_id=landed["batch_id"], config_path=str(config))
    assert count(engine, pupils) == 3 and count(engine, attendance_marks) == 0


def test_code_map_lets_the_same_reports_publish(tmp_path: Path, drop: Path, engine: Engine) -> None:
    config = csv_trust_config(tmp_path, drop, code_map={"I9": "I"})
    orchestration.prepare_warehouse(config_path=str(config))
    sync(config, "pupils")
    result = sync(config, "attendance")
    assert (result["rows_landed"], result["rows_published"]) == (12, 12)
    assert result["watermark"] == LATE.isoformat()
    assert count(engine, attendance_marks) == 12
    with engine.connect() as conn:
        mapped = conn.execute(
            select(attendance_marks.c.upn, attendance_marks.c.code).where(
                attendance_marks.c.source_code == "I9"
            )
        ).all()
    assert sorted(mapped) == [(upn(1), "I"), (upn(1), "I")]
    # The re-run re-reads the files inside the look-back window and changes nothing.
    again = sync(config, "attendance")
    assert again["rows_landed"] == 12 and again["rows_published"] == 0


def test_every_stream_publishes_through_the_pipeline(
    tmp_path: Path, drop: Path, engine: Engine
) -> None:
    config = csv_trust_config(tmp_path, drop)
    orchestration.prepare_warehouse(config_path=str(config))
    sync(config, "pupils")
    assert sync(config, "enrolments")["rows_published"] == 3
    assert count(engine, enrolments) == 3
    assert sync(config, "characteristics")["rows_published"] == 3

    # A corrected report: pupil 1's 2021 free-meals period was entered in error.
    rows = [PERIOD_ROWS[1], keyed(1, "Service Child", "01/09/2021", "")]
    write_csv(drop / "characteristics_oct.csv", PERIOD_HEADER, rows, when=LATE)
    corrected = sync(config, "characteristics")
    assert corrected["rows_landed"] == 2 and corrected["watermark"] == LATE.isoformat()
    periods = characteristic_periods.c
    with engine.connect() as conn:
        kept = conn.execute(
            select(
                periods.upn, periods.characteristic, periods.start_date, periods.withdrawn_at
            ).order_by(periods.upn, periods.characteristic, periods.start_date)
        ).all()
    assert [(u, c, s, w is not None) for u, c, s, w in kept] == [
        (upn(1), "fsm", date(2021, 9, 1), True),
        (upn(1), "fsm", date(2025, 1, 1), False),
        (upn(1), "service_child", date(2021, 9, 1), False),
        (upn(2), "cla", date(2024, 4, 1), False),
    ]

    stranger = [keyed(99, "KS2", "2025", "Reading", "TT", "", "104")]  # not on the roll
    write_csv(drop / "assessments_ks2.csv", RESULT_HEADER, stranger, when=LATE)
    results = sync(config, "assessments")
    assert (results["rows_landed"], results["rows_quarantined"]) == (4, 1)
    assert count(engine, assessment_results) == 3
    with engine.connect() as conn:
        held = conn.execute(
            select(quarantine.c.stream, quarantine.c.check_name).where(
                quarantine.c.stream == "assessments"
            )
        ).all()
    assert held == [("assessments", "pupil_known")]

    write_csv(drop / "deletions_oct.csv", DELETION_HEADER, [keyed(3, "")], when=LATE)
    sync(config, "deletions")
    with engine.connect() as conn:
        deleted = conn.execute(
            select(pupils.c.upn, pupils.c.deleted_at).where(pupils.c.deleted_at.is_not(None))
        ).all()
    assert deleted == [(upn(3), LATE)]
    assert sync(config, "deletions")["rows_landed"] == 0  # nothing newer: nothing re-read


@pytest.mark.parametrize("complete", [True, False])
def test_a_period_gone_from_a_complete_report_is_withdrawn(
    tmp_path: Path, drop: Path, engine: Engine, complete: bool
) -> None:
    config = csv_trust_config(tmp_path, drop, characteristics_complete_for_roll=complete)
    orchestration.prepare_warehouse(config_path=str(config))
    sync(config, "pupils")
    only_fsm = [keyed(1, "FSM", "01/01/2025", ""), PERIOD_ROWS[2]]  # pupil 1's only period
    write_csv(drop / "characteristics.csv", PERIOD_HEADER, only_fsm, when=EARLY)
    assert sync(config, "characteristics")["rows_published"] == 2

    # The newer report no longer lists pupil 1: their free-meals period was removed.
    write_csv(drop / "characteristics_oct.csv", PERIOD_HEADER, [PERIOD_ROWS[2]], when=LATE)
    newer = sync(config, "characteristics")
    assert newer["rows_landed"] == 1 and newer["watermark"] == LATE.isoformat()
    periods = characteristic_periods.c
    with engine.connect() as conn:
        stored = conn.execute(
            select(periods.upn, periods.characteristic, periods.withdrawn_at).order_by(periods.upn)
        ).all()
    assert [(u, c, w is not None) for u, c, w in stored] == [
        (upn(1), "fsm", complete),  # withdrawn only when the report is complete for the roll
        (upn(2), "cla", False),
    ]
