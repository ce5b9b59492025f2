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

import httpx
import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, select

from tests.helpers import count, one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.base import AdapterError, Page, Stream, Window
from trustdata.adapters.csv_export import CsvExportAdapter, CsvExportOptions
from trustdata.config.trust import ConfigError, load_trust_config
from trustdata.domain.records import AttendanceMarkRecord, PupilRecord
from trustdata.domain.upn import make_upn
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import attendance_marks, pupils

PUPIL_HEADER = [
    "Adno", "UPN", "Reg", "DOB", "Gender", "Year", "FSM", "FSM6", "In Care", "Post LAC",
    "Service Child", "SEN Status", "EAL", "Admission Date", "Leaving Date",
]  # fmt: skip
MARK_HEADER = ["Adno", "UPN", "Date", "Session", "Mark"]
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


def write_drop_folder(folder: Path) -> dict[str, Any]:
    """A drop folder with a pupils report and an attendance report; returns the options."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "pupils.csv", PUPIL_HEADER, [pupil_row(n) for n in (1, 2, 3)], when=EARLY)
    write_csv(folder / "attendance_wk1.csv", MARK_HEADER, marks_rows((1, 2, 3), (MON,)), when=EARLY)
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


# --- end to end: land -> audit -> publish into PostgreSQL ---------------------------------------

ACADEMY = "csvacademy"


def csv_trust_config(folder: Path, drop: Path, *, code_map: dict[str, str] | None = None) -> Path:
    """A one-academy trust config whose academy drops CSV reports into ``drop``."""
    return one_academy_config(
        folder,
        academy_id=ACADEMY,
        urn="990901",
        kind="csv",
        options={"folder": str(drop)},
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
        orchestration.audit_stream(batch_id=landed["batch_id"])
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
