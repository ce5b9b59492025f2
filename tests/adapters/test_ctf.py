"""The CTF adapter over generated CTF 25 files, then through the real pipeline.

Every fixture is synthetic: UPNs come from ``make_upn``, names are made up, URNs are 99xxxx.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, Table, func, select

from tests.helpers import count, one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.base import AdapterError, Page, Stream, Window
from trustdata.adapters.ctf import CtfAdapter, CtfOptions
from trustdata.adapters.ctf_xml import read_sections
from trustdata.config.trust import ConfigError, load_trust_config
from trustdata.domain.records import (
    AssessmentResultRecord,
    AttendanceMarkRecord,
    AttendanceSummaryRecord,
    CharacteristicPeriodRecord,
    EnrolmentRecord,
    PupilRecord,
)
from trustdata.domain.upn import make_upn
from trustdata.warehouse.tables import (
    assessment_results,
    attendance_marks,
    attendance_summaries,
    characteristic_periods,
    enrolments,
    pupils,
    quarantine,
)

URN = "990001"
EARLY = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
LATE = datetime(2026, 1, 16, 18, 0, tzinfo=UTC)
AS_AT = "2026-01-15T10:30:00"  # the header DateTime: FSM is judged on 15 January 2026


def upn(n: int) -> str:
    """A made-up but valid UPN."""
    return make_upn(990, 4001, 20, n)


OWN = ("990", "4001")  # the header's SourceSchool LEA and Estab: this academy
PREVIOUS = ("990", "3002")  # a made-up previous school


@dataclass
class Year:
    """One ``Attendance/YearData``; None leaves the element out."""

    year: str = "2025"
    school: tuple[str, str] | None = OWN
    counts: tuple[str, ...] | None = ("170", "4", "164", "2")  # possible, auth, attended, unauth
    start: str | None = "2025-09-01"
    marks: str | None = None


# (Year, Subject, Method, Component, Result) of one StageAssessment.
Result = tuple[str, str, str, str | None, str | None]


@dataclass
class Kid:
    """One synthetic pupil; None leaves the element out."""

    n: int
    dob: str = "2016-03-01"
    sex: str | None = "F"
    gender: str | None = None
    year: str | None = "5"
    fsm: list[tuple[str, str | None]] | None = None
    in_care: str | None = "false"
    sen: list[tuple[str | None, str]] | None = None
    upn: str | None = ""  # "" means upn(n)
    schools: list[tuple[tuple[str, str], str | None, str | None]] | None = None
    attendance: list[Year] | None = None
    results: dict[str, list[Result]] | None = None  # by Stage


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def _pupil(parent: ET.Element, kid: Kid) -> None:
    elem = _add(parent, "Pupil")
    if kid.upn is not None:
        _add(elem, "UPN", kid.upn or upn(kid.n))
    _add(elem, "Surname", f"Testsurname{kid.n}")
    _add(elem, "Forename", "Madeup")
    _add(elem, "DOB", kid.dob)
    if kid.sex is not None:
        _add(elem, "Sex", kid.sex)
    if kid.gender is not None:
        _add(elem, "Gender", kid.gender)
    basic = _add(elem, "BasicDetails")
    if kid.year is not None:
        _add(basic, "NCyearActual", kid.year)
    if kid.in_care is not None:
        _add(_add(elem, "LookedAfter"), "InCare", kid.in_care)
    if kid.fsm is not None:
        history = _add(elem, "FSMhistory")
        _add(history, "FSMreviewDate", "2025-09-01")
        for start, end in kid.fsm:
            instance = _add(history, "FSMinstance")
            _add(instance, "FSMstartDate", start)
            if end is not None:
                _add(instance, "FSMendDate", end)
            _add(instance, "UKcountry", "ENG")
    if kid.sen is not None:
        history = _add(elem, "SENhistory")
        for start, provision in kid.sen:
            sen = _add(history, "SEN")
            if start is not None:
                _add(sen, "StartDate", start)
            _add(sen, "SENprovision", provision)
    if kid.schools is not None:
        history = _add(elem, "SchoolHistory")
        for (lea, estab), entry, leaving in kid.schools:
            school = _add(history, "School")
            _add(school, "LEA", lea)
            _add(school, "Estab", estab)
            _add(school, "SchoolName", "Synthetic School")
            if entry is not None:
                _add(school, "EntryDate", entry)
            if leaving is not None:
                _add(school, "LeavingDate", leaving)
                _add(school, "LeavingReason", "OTHER")
    if kid.attendance is not None:
        _attendance(_add(elem, "Attendance"), kid.attendance)
    if kid.results is not None:
        _results(_add(elem, "StageAssessments"), kid.results)
    # Present in real files, read by nothing: it must be skipped, not parsed into records.
    _add(_add(elem, "Contacts"), "Contact", "Madeup Contact")


def _attendance(parent: ET.Element, years: list[Year]) -> None:
    for spec in years:
        year = _add(parent, "YearData")
        _add(year, "Year", spec.year)
        if spec.school is not None:
            _add(year, "LEA", spec.school[0])
            _add(year, "Estab", spec.school[1])
        _add(year, "SchoolName", "Synthetic School")
        tags = ["SessionsPossible", "SessionsAuthorised", "SessionsAttended"]
        for tag, value in zip([*tags, "SessionsUnauthorised"], spec.counts or (), strict=False):
            _add(year, tag, value)
        if spec.marks is not None:
            sessions = _add(year, "AttendSessions")
            if spec.start is not None:
                _add(sessions, "AttendanceStartDate", spec.start)
            _add(sessions, "AttendanceMarks", spec.marks)


def _results(parent: ET.Element, stages: dict[str, list[Result]]) -> None:
    for stage, results in stages.items():
        key_stage = _add(parent, "KeyStage")
        _add(key_stage, "Stage", stage)
        for year, subject, method, component, result in results:
            item = _add(key_stage, "StageAssessment")
            _add(item, "Locale", "ENG")
            _add(item, "Year", year)
            _add(item, "Subject", subject)
            _add(item, "Method", method)
            if component is not None:
                _add(item, "Component", component)
            _add(item, "ResultStatus", "F")
            _add(item, "ResultQualifier", "SS")
            if result is not None:
                _add(item, "Result", result)


@dataclass
class Ctf:
    """A synthetic CTF 25 file."""

    kids: list[Kid] = field(default_factory=list)
    document_name: str = "Common Transfer File"
    version: str = "25.0"
    urn: str = URN
    when: str = AS_AT
    school: tuple[str, str] | None = OWN

    def xml(self) -> bytes:
        root = ET.Element("CTfile")
        header = _add(root, "Header")
        _add(header, "DocumentName", self.document_name)
        _add(header, "CTFversion", self.version)
        _add(header, "DateTime", self.when)
        _add(header, "DocumentQualifier", "full")
        _add(header, "SupplierID", "SYNTHETIC")
        source = _add(header, "SourceSchool")
        if self.school is not None:
            _add(source, "LEA", self.school[0])
            _add(source, "Estab", self.school[1])
        _add(source, "URN", self.urn)
        _add(source, "SchoolName", "Synthetic Primary")
        _add(source, "AcademicYear", "2025")
        dest = _add(header, "DestSchool")
        _add(dest, "LEA", "MAT")
        _add(dest, "Estab", "MAT")
        data = _add(root, "CTFpupilData")
        for kid in self.kids:
            _pupil(data, kid)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def write(self, path: Path, *, when: datetime | None = EARLY) -> Path:
        path.write_bytes(self.xml())
        if when is not None:
            os.utime(path, (when.timestamp(), when.timestamp()))
        return path


# Two weeks of this academy's registers from Monday 1 September 2025: '#' is a weekend.
MARKS = "/\\" * 5 + "##" * 2 + "/\\/NL\\/\\/\\" + "##" * 2


def write_ctf_folder(folder: Path) -> dict[str, Any]:
    """A drop folder with one CTF of three pupils, with data for every stream; returns the
    options."""
    folder.mkdir(parents=True, exist_ok=True)
    first = Kid(
        1,
        year="6",
        fsm=[("2019-09-01", "2021-07-31"), ("2025-09-01", None)],
        schools=[(PREVIOUS, "2019-09-01", "2021-07-31"), (OWN, "2021-09-01", None)],
        attendance=[
            Year("2020", PREVIOUS, ("300", "10", "285", "5"), None),
            Year("2025", OWN, ("20", "0", "19", "1"), "2025-09-01", MARKS),
        ],
        results={
            "KS1": [("2021", "MAT", "TA", None, "EXS")],
            "KS2": [("2026", "MAT", "TT", None, "104"), ("2026", "ENG", "TT", "RD", "79")],
        },
    )
    second = Kid(2, sex="M", year="R", schools=[(OWN, "2025-09-01", None)])
    Ctf([first, second, Kid(3, year="N1")]).write(folder / "ctf_out.xml")
    return {"folder": str(folder), "urn": URN}


def adapter(**options: Any) -> CtfAdapter:
    """A CTF adapter of this academy (``urn`` defaults to its URN)."""
    options.setdefault("urn", URN)
    with httpx.Client() as client:  # unused by file adapters; the contract requires one
        return CtfAdapter(options=CtfOptions.model_validate(options), secret="none", client=client)


def read(
    source: CtfAdapter, after: datetime | None = None, stream: Stream = Stream.PUPILS
) -> list[Page]:
    return list(source.fetch(stream, Window(updated_after=after)))


def rows(tmp_path: Path, stream: Stream, *kids: Kid, **options: Any) -> list[Any]:
    """The records of ``stream`` read from one file of ``kids``."""
    Ctf(list(kids)).write(tmp_path / "one.xml")
    pages = read(adapter(folder=str(tmp_path), **options), stream=stream)
    return [r for page in pages for r in page.records]


def roll(source: CtfAdapter, after: datetime | None = None) -> list[PupilRecord]:
    return [r for page in read(source, after) for r in page.records if isinstance(r, PupilRecord)]


def one(tmp_path: Path, kid: Kid, **options: Any) -> PupilRecord:
    Ctf([kid]).write(tmp_path / "one.xml")
    (record,) = roll(adapter(folder=str(tmp_path), **options))
    return record


def error(tmp_path: Path, ctf: Ctf | bytes, stream: Stream = Stream.PUPILS, **options: Any) -> str:
    path = tmp_path / "bad.xml"
    path.write_bytes(ctf if isinstance(ctf, bytes) else ctf.xml())
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path), **options), stream=stream)
    message = str(caught.value)
    assert str(tmp_path) not in message  # the file's name, never its folder
    return message


def test_full_read(tmp_path: Path) -> None:
    source = adapter(**write_ctf_folder(tmp_path / "drop"))
    source.check_connection()
    pages = read(source)
    assert [p.watermark for p in pages] == [EARLY]
    first, reception, nursery = pages[0].records
    assert first == PupilRecord(
        mis_id=upn(1), upn=upn(1), date_of_birth=date(2016, 3, 1), gender="F", nc_year=6,
        fsm_eligible=True, fsm6=True, in_care=False, previously_in_care=None,
        service_child=None, sen_status=None, eal=None, admission_date=date(2021, 9, 1),
        leaving_date=None, source_updated_at=EARLY,
    )  # fmt: skip
    assert (reception.gender, reception.nc_year, nursery.nc_year) == ("M", 0, -1)
    assert (reception.admission_date, nursery.admission_date) == (date(2025, 9, 1), None)


def test_pages_respect_page_size(tmp_path: Path) -> None:
    Ctf([Kid(n) for n in range(1, 6)]).write(tmp_path / "a.xml")
    pages = read(adapter(folder=str(tmp_path), page_size=2))
    assert [len(p.records) for p in pages] == [2, 2, 1]


def test_options_are_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CtfOptions.model_validate({"folder": "/x", "pupils_pattern": "*.xml"})
    with pytest.raises(ValidationError, match="urn"):
        CtfOptions.model_validate({"folder": "/x", "urn": "12345"})


@pytest.mark.parametrize("options", [{}, {"urn": None}, {"urn": ""}])
def test_the_academys_urn_is_required(tmp_path: Path, options: dict[str, Any]) -> None:
    """Without it a CTF received from a pupil's previous school would be read as this
    academy's: its marks and enrolments stored as ours."""
    with pytest.raises(ValidationError, match="a CTF names the school it came from") as caught:
        CtfOptions.model_validate({"folder": "/x", **options})
    assert [e["loc"] for e in caught.value.errors()] == [("urn",)]
    # The trust config names the academy, the field and the fix.
    config = one_academy_config(
        tmp_path,
        academy_id=ACADEMY,
        urn=URN,
        kind="ctf",
        options={"folder": str(tmp_path), **options},
        credential_env="TD_CTF_NO_SECRET",
    )
    with pytest.raises(ConfigError) as error:
        load_trust_config(config)
    assert f"academies['{ACADEMY}'].adapter.options.urn: " in str(error.value)
    assert "the academy's URN tells its own files from others'" in str(error.value)


def test_a_ctf_from_a_previous_school_is_not_read_as_this_academys(tmp_path: Path) -> None:
    # The pupil's previous school sent their CTF: its registers and enrolment are its own.
    kid = Kid(1, schools=[(PREVIOUS, "2019-09-01", None)], attendance=[Year(marks="/\\")])
    ctf = Ctf([kid], urn="990002", school=PREVIOUS)
    for stream in (Stream.ATTENDANCE, Stream.ENROLMENTS):
        message = error(tmp_path, ctf, stream)
        assert "Header/SourceSchool/URN is '990002', not the academy's 990001" in message


@pytest.mark.parametrize(
    ("ctf", "expected"),
    [
        (Ctf(document_name="Pupil Transfer"), r"Header/DocumentName is not 'Common Transfer File'"),
        (Ctf(version="19.0"), r"Header/CTFversion is '19.0'; CTF 20 or later"),
        (Ctf(urn="990002"), r"Header/SourceSchool/URN is '990002', not the academy's 990001"),
        (Ctf(when="mid-January"), r"Header/DateTime .*set option 'fsm6_as_at'"),
    ],
)
def test_header_checks_name_the_file(tmp_path: Path, ctf: Ctf, expected: str) -> None:
    message = error(tmp_path, replace(ctf, kids=[Kid(1)]), urn=URN)
    assert message.startswith("bad.xml: ")
    assert re.search(expected, message), message
    assert upn(1) not in message


def test_header_checks_also_run_in_check_connection(tmp_path: Path) -> None:
    Ctf(urn="990002").write(tmp_path / "other.xml")
    with pytest.raises(AdapterError, match=r"other\.xml: Header/SourceSchool/URN"):
        adapter(folder=str(tmp_path), urn=URN).check_connection()
    adapter(folder=str(tmp_path), urn="990002").check_connection()


def test_not_a_ctf(tmp_path: Path) -> None:
    assert "root element is not CTfile" in error(tmp_path, b"<?xml version='1.0'?><Other/>")
    message = error(tmp_path, b"<CTfile><Header><DocumentName>Common")
    assert message.startswith("bad.xml: not well-formed XML at line 1, column")


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE CTfile [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
        b'<!-- exported by a synthetic MIS <a> -->\n<!DOCTYPE CTfile SYSTEM "ctf.dtd">',
        b'<!ENTITY x "y">',
    ],
)
def test_doctype_and_entities_are_refused(tmp_path: Path, prolog: bytes) -> None:
    body = Ctf([Kid(1)]).xml().split(b"?>", 1)[1]
    content = b"<?xml version='1.0' encoding='utf-8'?>\n" + prolog + body
    assert "DOCTYPE or entity declaration" in error(tmp_path, content)


def test_fsm_and_fsm6(tmp_path: Path) -> None:
    def fsm(*instances: tuple[str, str | None], **options: Any) -> tuple[Any, Any]:
        record = one(tmp_path, Kid(1, fsm=list(instances)), **options)
        return record.fsm_eligible, record.fsm6

    # As at 15 Jan 2026: ended 7 years before, but after April 2018 (transitional protection).
    assert fsm(("2017-09-01", "2019-01-10")) == (False, True)
    # Ended before April 2018 and more than six years before the as-at date.
    assert fsm(("2016-09-01", "2018-03-01")) == (False, False)
    assert fsm(("2025-09-01", None)) == (True, True)  # open: FSM now
    assert fsm(("2025-09-01", "2026-01-15")) == (True, True)  # ends on the as-at day
    assert fsm(("2026-02-01", None)) == (False, False)  # starts after the as-at date
    assert fsm() == (False, False)  # a history with no instance: never eligible
    assert one(tmp_path, Kid(1)).fsm6 is None  # no FSMhistory: unknown, not False
    # Before April 2024 the six years reach back before April 2018.
    assert fsm(("2016-09-01", "2017-07-01"), fsm6_as_at="2023-06-01") == (False, True)
    assert fsm(("2016-09-01", "2017-05-01"), fsm6_as_at="2023-06-01") == (False, False)
    assert fsm(("2016-09-01", "2018-03-01"), fsm6_as_at="2017-01-01") == (True, True)


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("1", True), ("Y", True), ("false", False), (None, None)]
)
def test_looked_after(tmp_path: Path, text: str | None, expected: bool | None) -> None:
    assert one(tmp_path, Kid(1, in_care=text)).in_care is expected


def test_sen_takes_the_latest_provision(tmp_path: Path) -> None:
    history = [("2024-09-01", "E"), ("2022-09-01", "K"), ("2021-01-10", "N")]
    assert one(tmp_path, Kid(1, sen=history)).sen_status == "E"
    assert one(tmp_path, Kid(1, sen=[(None, "K"), (None, "n")])).sen_status == "N"
    assert one(tmp_path, Kid(1)).sen_status is None


def test_sex_falls_back_to_gender(tmp_path: Path) -> None:
    assert one(tmp_path, Kid(1, sex=None, gender="M")).gender == "M"
    assert one(tmp_path, Kid(1, sex="F", gender="M")).gender == "F"
    assert one(tmp_path, Kid(1, sex=None)).gender is None


def test_incremental_read_by_modification_time(tmp_path: Path) -> None:
    Ctf([Kid(2)]).write(tmp_path / "b.xml", when=LATE)
    Ctf([Kid(1)]).write(tmp_path / "a.xml", when=EARLY)
    source = adapter(folder=str(tmp_path))
    assert [r.upn for r in roll(source, after=EARLY)] == [upn(2)]
    assert read(source, after=LATE) == []
    naive = LATE.replace(tzinfo=None)  # a naive watermark is UTC
    assert read(source, after=naive) == []


def test_a_pupil_in_two_files_is_read_once_from_the_newer(tmp_path: Path) -> None:
    Ctf([Kid(1, year="4"), Kid(2)]).write(tmp_path / "autumn.xml", when=EARLY)
    Ctf([Kid(1, year="5")]).write(tmp_path / "spring.xml", when=LATE)
    records = roll(adapter(folder=str(tmp_path)))
    assert [(r.upn, r.nc_year, r.source_updated_at) for r in records] == [
        (upn(1), 5, LATE),
        (upn(2), 5, EARLY),
    ]


def test_bad_date_names_file_and_element_but_not_the_value(tmp_path: Path) -> None:
    message = error(tmp_path, Ctf([Kid(1), Kid(2, dob="2016-02-31")]))
    assert message == "bad.xml: CTFpupilData/Pupil[2]/DOB is not a YYYY-MM-DD date"
    message = error(tmp_path, Ctf([Kid(1, fsm=[("2020-09-01", None), ("01/09/2021", None)])]))
    assert message.endswith(
        "Pupil[1]/FSMhistory/FSMinstance[2]/FSMstartDate is not a YYYY-MM-DD date"
    )
    assert "2021" not in message and upn(1) not in message


def test_pupil_without_upn_is_kept_for_the_audit_to_quarantine(tmp_path: Path) -> None:
    record = one(tmp_path, Kid(1, upn=None))
    assert (record.upn, record.mis_id) == (None, "one.xml#Pupil[1]")


def test_missing_folder_names_the_option(tmp_path: Path) -> None:
    source = adapter(folder=str(tmp_path / "not-mounted"))
    with pytest.raises(AdapterError, match=r"option 'folder': .* is not an existing folder"):
        read(source)
    with pytest.raises(AdapterError, match="option 'folder'"):
        source.check_connection()


def test_empty_folder(tmp_path: Path) -> None:
    source = adapter(folder=str(tmp_path))
    assert read(source) == []
    with pytest.raises(AdapterError, match=r"option 'folder': no file matches '\*\.xml'"):
        source.check_connection()


def test_each_pupil_is_freed_once_read(tmp_path: Path) -> None:
    path = Ctf([Kid(n) for n in range(1, 4)]).write(tmp_path / "a.xml")
    seen = list(read_sections(path))
    assert [e.tag for e in seen] == ["Header", "Pupil", "Pupil", "Pupil"]
    assert all(len(e) == 0 and not e.text for e in seen)  # cleared and detached after use


def test_other_streams_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="no stream 'deletions'"):
        list(adapter(folder=str(tmp_path)).fetch(Stream.DELETIONS, Window()))


# --- characteristics: FSM periods ---------------------------------------------------------------


def test_fsm_periods_one_per_instance(tmp_path: Path) -> None:
    instances = [("2019-09-01", "2021-07-31"), ("2025-09-01", None)]
    periods = rows(tmp_path, Stream.CHARACTERISTICS, Kid(1, fsm=instances), Kid(2))
    assert periods == [
        CharacteristicPeriodRecord(upn(1), "fsm", date(2019, 9, 1), date(2021, 7, 31), EARLY),
        CharacteristicPeriodRecord(upn(1), "fsm", date(2025, 9, 1), None, EARLY),
    ]
    # No FSMhistory, or one without instances: no periods. LookedAfter has no dates: no period.
    kids = [Kid(1), Kid(2, fsm=[]), Kid(3, in_care="true")]
    assert rows(tmp_path, Stream.CHARACTERISTICS, *kids) == []


def test_fsm_set_comes_whole_from_the_newest_file(tmp_path: Path) -> None:
    autumn = [("2019-09-01", "2021-07-31"), ("2023-01-09", None)]
    Ctf([Kid(1, fsm=autumn), Kid(2, fsm=[("2024-02-01", None)])]).write(tmp_path / "a.xml")
    # The spring file corrects pupil 1's set: the older instance is gone, the other ended.
    Ctf([Kid(1, fsm=[("2023-01-09", "2025-12-19")])]).write(tmp_path / "b.xml", when=LATE)
    pages = read(adapter(folder=str(tmp_path)), stream=Stream.CHARACTERISTICS)
    assert [(p.watermark, [(r.mis_pupil_id, r.end_date) for r in p.records]) for p in pages] == [
        (LATE, [(upn(1), date(2025, 12, 19))]),
        (LATE, []),
        (EARLY, [(upn(2), None)]),
        (EARLY, []),
    ]
    # Each file ends with the sets it holds whole (Page.covers).
    assert [list(p.covers) for p in pages if not p.records] == [
        [(upn(1), "fsm")],
        [(upn(2), "fsm")],
    ]


def test_an_empty_fsm_history_covers_the_pupils_set(tmp_path: Path) -> None:
    Ctf([Kid(1, fsm=[]), Kid(2)]).write(tmp_path / "a.xml")
    pages = read(adapter(folder=str(tmp_path)), stream=Stream.CHARACTERISTICS)
    # Pupil 1's FSM history is empty (now none); pupil 2 has none: unknown, not covered.
    assert [(list(p.records), list(p.covers)) for p in pages] == [([], [(upn(1), "fsm")])]


def test_a_file_without_rows_still_moves_the_watermark(tmp_path: Path) -> None:
    Ctf([Kid(1)]).write(tmp_path / "a.xml")
    pages = read(adapter(folder=str(tmp_path)), stream=Stream.CHARACTERISTICS)
    assert [(p.watermark, len(p.records)) for p in pages] == [(EARLY, 0)]


# --- attendance summaries ------------------------------------------------------------------------


def test_attendance_summaries_keep_previous_schools(tmp_path: Path) -> None:
    years = [Year("2024", PREVIOUS, ("300", "10", "285", "5")), Year("2025")]
    assert rows(tmp_path, Stream.ATTENDANCE_SUMMARIES, Kid(1, attendance=years)) == [
        AttendanceSummaryRecord(upn(1), 2024, "9903002", 300, 10, 285, 5, EARLY),
        AttendanceSummaryRecord(upn(1), 2025, "9904001", 170, 4, 164, 2, EARLY),
    ]


def test_attendance_summaries_edge_cases(tmp_path: Path) -> None:
    marks_only = Year(counts=None, marks="/\\")
    kids = [Kid(1), Kid(2, attendance=[]), Kid(3, attendance=[marks_only])]
    assert rows(tmp_path, Stream.ATTENDANCE_SUMMARIES, *kids) == []
    # A negative count is read as written: the audit quarantines it, with the reason.
    negative = Year(counts=("170", "-4", "164", "2"))
    (summary,) = rows(tmp_path, Stream.ATTENDANCE_SUMMARIES, Kid(1, attendance=[negative]))
    assert summary.sessions_authorised == -4


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (Year(counts=("170", "4.5", "164", "2")), "YearData[2]/SessionsAuthorised is not a whole"),
        (Year(counts=("170", "4", "164")), "YearData[2]/SessionsUnauthorised is empty"),
        (Year(year="25/26"), "YearData[2]/Year is not a four-digit year"),
        (Year(school=("MAT", "4001")), "YearData[2]/LEA and Estab are not a 3-digit LA number"),
        (Year(school=None), "YearData[2]/LEA and Estab are not"),
    ],
)
def test_bad_attendance_summary_names_the_element(
    tmp_path: Path, year: Year, expected: str
) -> None:
    kid = Kid(1, attendance=[Year("2024"), year])
    message = error(tmp_path, Ctf([kid]), Stream.ATTENDANCE_SUMMARIES)
    assert message.startswith("bad.xml: CTFpupilData/Pupil[1]/Attendance/"), message
    assert expected in message
    assert upn(1) not in message and "4.5" not in message and "MAT" not in message


# --- assessments ---------------------------------------------------------------------------------


def test_ks2_and_ks4_results(tmp_path: Path) -> None:
    results = {
        "EYFSP": [("2020", "COM", "TA", "LA", "EXP")],
        "KS1": [("2022", "MAT", "TA", None, "EXS")],
        "Key Stage 2": [("2026", "MAT", "TT", None, "104"), ("2026", "ENG", "TA", "WR", "GDS")],
        "ks 4": [("2031", "MAT", "EX", None, "7"), ("2031", "HIS", "EX", "", "U")],
    }
    assert rows(tmp_path, Stream.ASSESSMENTS, Kid(1, results=results), Kid(2)) == [
        AssessmentResultRecord(upn(1), "KS2", 2026, "MAT", "TT", "", "104", EARLY),
        AssessmentResultRecord(upn(1), "KS2", 2026, "ENG", "TA", "WR", "GDS", EARLY),
        AssessmentResultRecord(upn(1), "KS4", 2031, "MAT", "EX", "", "7", EARLY),
        AssessmentResultRecord(upn(1), "KS4", 2031, "HIS", "EX", "", "U", EARLY),
    ]


def test_results_without_a_result_are_skipped_and_the_last_of_a_key_wins(
    tmp_path: Path,
) -> None:
    results = {
        "KS2": [
            ("2026", "MAT", "TT", None, None),
            ("2026", "ENG", "TT", "RD", "98"),
            ("2026", "ENG", "TT", "RD", "101"),
        ]
    }
    records = rows(tmp_path, Stream.ASSESSMENTS, Kid(1, results=results), Kid(2, results={}))
    assert [(r.subject, r.result) for r in records] == [("ENG", "101")]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (("Y6", "MAT", "TT", None, "104"), "StageAssessment[2]/Year is not a four-digit year"),
        (("2026", "", "TT", None, "104"), "StageAssessment[2]/Subject is empty"),
        (("2026", "MAT", " ", None, "104"), "StageAssessment[2]/Method is empty"),
    ],
)
def test_bad_result_names_the_element(tmp_path: Path, result: Result, expected: str) -> None:
    kid = Kid(1, results={"KS1": [], "KS2": [("2026", "ENG", "TT", "RD", "99"), result]})
    message = error(tmp_path, Ctf([kid]), Stream.ASSESSMENTS)
    assert message == f"bad.xml: CTFpupilData/Pupil[1]/StageAssessments/KeyStage[2]/{expected}"


# --- enrolments ----------------------------------------------------------------------------------


def test_enrolments_at_this_academy_only(tmp_path: Path) -> None:
    schools = [
        (PREVIOUS, "2019-09-01", "2021-07-31"),
        (OWN, "2021-09-01", "2023-02-10"),  # left, and came back
        (OWN, "2024-01-08", None),
        (OWN, None, None),  # no entry date: nothing to key an enrolment on
    ]
    kids = [Kid(1, schools=schools), Kid(2), Kid(3, schools=[(PREVIOUS, "2020-09-01", None)])]
    assert rows(tmp_path, Stream.ENROLMENTS, *kids) == [
        EnrolmentRecord(upn(1), date(2021, 9, 1), date(2023, 2, 10), None, EARLY),
        EnrolmentRecord(upn(1), date(2024, 1, 8), None, None, EARLY),
    ]
    # The pupil's admission and leaving dates are those of the latest enrolment.
    first, second, third = rows(tmp_path, Stream.PUPILS, *kids)
    assert (first.admission_date, first.leaving_date) == (date(2024, 1, 8), None)
    assert second.admission_date is None and third.admission_date is None


def test_an_undated_entry_at_this_academy_leaves_the_pupils_enrolments_as_stored(
    tmp_path: Path,
) -> None:
    """An entry without an EntryDate is skipped, so the file does not hold the pupil's set
    whole: covering it would withdraw the enrolment stored from an earlier file."""
    kids = [
        Kid(1, schools=[(OWN, None, None)]),
        Kid(2, schools=[(OWN, "2021-09-01", "2023-01-06"), (OWN, None, None)]),
        Kid(3, schools=[(PREVIOUS, None, None)]),  # another school's: not ours to key
        Kid(4, schools=[(OWN, "2021-09-01", None)]),
    ]
    Ctf(kids).write(tmp_path / "one.xml")
    pages = read(adapter(folder=str(tmp_path)), stream=Stream.ENROLMENTS)
    records = [(r.mis_pupil_id, r.start_date) for page in pages for r in page.records]
    assert records == [(upn(2), date(2021, 9, 1)), (upn(4), date(2021, 9, 1))]
    covers = [cover for page in pages for cover in page.covers]
    assert covers == sorted([(upn(3), ""), (upn(4), "")])


def test_enrolment_errors(tmp_path: Path) -> None:
    folders = [tmp_path / name for name in ("bad_date", "other_school", "no_laestab")]
    for folder in folders:
        folder.mkdir()
    kid = Kid(1, schools=[(OWN, "2021-09-01", "31/07/2023")])
    message = error(folders[0], Ctf([kid]), Stream.ENROLMENTS)
    assert message == (
        "bad.xml: CTFpupilData/Pupil[1]/SchoolHistory/School[1]/LeavingDate "
        "is not a YYYY-MM-DD date"
    )
    # A previous school's entry is not this academy's to check.
    other = Kid(1, schools=[(PREVIOUS, "sometime", None)])
    assert rows(folders[1], Stream.ENROLMENTS, other) == []
    # Without the header's LEA and Estab this academy's entries cannot be told apart...
    headless = Ctf([Kid(1, schools=[(OWN, "2021-09-01", None)])], school=None)
    message = error(folders[2], headless, Stream.ENROLMENTS)
    assert message.startswith("bad.xml: Header/SourceSchool/LEA and Estab (3 and 4 digits)")
    # ... but its pupils are still read, with unknown admission dates.
    (pupil,) = roll(adapter(folder=str(folders[2])))
    assert pupil.admission_date is None


# --- attendance marks ----------------------------------------------------------------------------


def test_marks_from_this_academys_registers(tmp_path: Path) -> None:
    years = [
        Year("2024", PREVIOUS, start="2024-09-02", marks="/\\/\\"),  # not this academy's
        Year("2025", OWN, start="2025-09-01", marks=MARKS),
    ]
    marks = rows(tmp_path, Stream.ATTENDANCE, Kid(1, attendance=years), Kid(2))
    assert len(marks) == 20 and {m.mis_pupil_id for m in marks} == {upn(1)}
    assert marks[0] == AttendanceMarkRecord(None, upn(1), date(2025, 9, 1), "AM", "/", EARLY)
    odd = [(m.mark_date, m.session, m.source_code) for m in marks if m.source_code in "NL"]
    assert odd == [(date(2025, 9, 9), "PM", "N"), (date(2025, 9, 10), "AM", "L")]
    assert max(m.mark_date for m in marks) == date(2025, 9, 12)  # weekends ('#') skipped
    # A blank mark gives nothing; trailing blanks do not shift anything.
    year = Year(start="2025-09-01", marks="/ # /\\  ")
    marks = rows(tmp_path, Stream.ATTENDANCE, Kid(1, attendance=[year]))
    assert [(m.mark_date.day, m.session) for m in marks] == [(1, "AM"), (3, "AM"), (3, "PM")]


def test_digits_in_2024_registers_are_refused_not_guessed(tmp_path: Path) -> None:
    # A digit could only be part of a multi-character code (C1, J1, Y1...) on these dates.
    late = Year(start="2024-08-16", marks="/\\" * 3 + "C1")  # the 4th day is 19 August 2024
    message = error(tmp_path, Ctf([Kid(1, attendance=[late])]), Stream.ATTENDANCE)
    assert message.startswith(
        "bad.xml: CTFpupilData/Pupil[1]/Attendance/YearData[1]/AttendSessions[1]/"
        "AttendanceMarks has a digit on or after 19 August 2024"
    )
    assert "C1, J1, Y1" in message and upn(1) not in message
    # Before then no code had a digit: the mark is read, and the audit stops the unmapped code.
    early = Year(start="2024-08-15", marks="/\\" * 3 + "C1")
    (tmp_path / "bad.xml").unlink()
    marks = rows(tmp_path, Stream.ATTENDANCE, Kid(1, attendance=[early]))
    assert [m.source_code for m in marks][-2:] == ["C", "1"]


def test_mark_errors_name_the_element(tmp_path: Path) -> None:
    undated = Kid(1, attendance=[Year(start=None, marks="/\\")])
    wrapped = Kid(1, attendance=[Year(marks="/\\\n/\\")])
    headless = Ctf([Kid(1, attendance=[Year(marks="/\\")])], school=("99", "4001"))
    for ctf, expected in [
        (Ctf([undated]), "AttendSessions[1]/AttendanceStartDate is empty"),
        (Ctf([wrapped]), "AttendSessions[1]/AttendanceMarks has a line break or tab"),
        (headless, "bad.xml: Header/SourceSchool/LEA and Estab"),
    ]:
        assert expected in error(tmp_path, ctf, Stream.ATTENDANCE)


def test_every_stream_pages_and_reads_yearly_rows_from_every_file(tmp_path: Path) -> None:
    Ctf([Kid(n, attendance=[Year()]) for n in range(1, 6)]).write(tmp_path / "a.xml")
    Ctf([Kid(2, attendance=[Year("2024")])]).write(tmp_path / "b.xml", when=LATE)
    source = adapter(folder=str(tmp_path), page_size=2)
    pages = read(source, stream=Stream.ATTENDANCE_SUMMARIES)
    assert [len(p.records) for p in pages] == [1, 2, 2, 1]
    years = {(r.mis_pupil_id, r.academic_year_start) for p in pages for r in p.records}
    # Pupil 2's 2025 totals are only in the older file: they are kept, not lost.
    assert {(upn(2), 2024), (upn(2), 2025)} <= years and len(years) == 6
    assert read(source, after=EARLY, stream=Stream.ATTENDANCE_SUMMARIES)[0].watermark == LATE


def test_a_newer_file_of_this_year_keeps_last_years_marks_summaries_and_results(
    tmp_path: Path,
) -> None:
    """summer.xml holds 2024-25, the newer autumn.xml 2025-26: a pupil in both keeps both
    years' marks, totals and results; the sets sent whole come from the newer file only."""
    last = Year("2024", start="2024-06-02", marks="/\\/")
    summer = Kid(
        1,
        year="5",
        fsm=[("2022-09-01", None)],
        schools=[(OWN, "2020-09-01", None)],
        attendance=[last],
        results={"KS2": [("2025", "MAT", "TT", None, "101")]},
    )
    autumn = Kid(
        1,
        year="6",
        fsm=[("2022-09-01", "2025-07-18")],
        schools=[(OWN, "2020-09-02", None)],
        attendance=[Year("2025", start="2025-09-01", marks="/\\")],
        results={"KS2": [("2026", "MAT", "TT", None, "104")]},
    )
    Ctf([summer, Kid(2)]).write(tmp_path / "summer.xml", when=EARLY)
    Ctf([autumn]).write(tmp_path / "autumn.xml", when=LATE)
    source = adapter(folder=str(tmp_path))

    def got(stream: Stream) -> list[Any]:
        return [r for page in read(source, stream=stream) for r in page.records]

    marks = [(m.mark_date, m.session, m.source_updated_at) for m in got(Stream.ATTENDANCE)]
    assert marks == [
        (date(2025, 9, 1), "AM", LATE),
        (date(2025, 9, 1), "PM", LATE),
        (date(2024, 6, 2), "AM", EARLY),
        (date(2024, 6, 2), "PM", EARLY),
        (date(2024, 6, 3), "AM", EARLY),
    ]
    summaries = got(Stream.ATTENDANCE_SUMMARIES)
    assert [(r.academic_year_start, r.source_updated_at) for r in summaries] == [
        (2025, LATE),
        (2024, EARLY),
    ]
    results = got(Stream.ASSESSMENTS)
    assert [(r.assessment_year, r.result, r.source_updated_at) for r in results] == [
        (2026, "104", LATE),
        (2025, "101", EARLY),
    ]
    # Sets sent whole: pupil 1's from the newer file only; pupil 2 from the older.
    assert [(r.mis_id, r.nc_year) for r in got(Stream.PUPILS)] == [(upn(1), 6), (upn(2), 5)]
    assert [(r.start_date, r.end_date) for r in got(Stream.CHARACTERISTICS)] == [
        (date(2022, 9, 1), date(2025, 7, 18))
    ]
    assert [r.start_date for r in got(Stream.ENROLMENTS)] == [date(2020, 9, 2)]


# --- end to end: land -> audit -> publish into PostgreSQL ---------------------------------------

ACADEMY = "ctfacademy"


def ctf_trust_config(folder: Path, drop: Path) -> Path:
    """A one-academy trust config whose academy drops CTF files into ``drop``."""
    return one_academy_config(
        folder,
        academy_id=ACADEMY,
        urn=URN,
        kind="ctf",
        options={"folder": str(drop), "urn": URN},
        credential_env="TD_CTF_NO_SECRET",  # files need none; any value will do
    )


def sync(config: Path, stream: Stream = Stream.PUPILS) -> dict[str, Any]:
    return sync_stream(config, ACADEMY, stream.value)


def test_sync_pupils_through_the_pipeline(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_CTF_NO_SECRET", "none")
    drop = tmp_path / "drop"
    write_ctf_folder(drop)
    config = ctf_trust_config(tmp_path, drop)
    orchestration.prepare_warehouse(config_path=str(config))
    first = sync(config)
    assert first["rows_published"] == 3 and first["watermark"] == EARLY.isoformat()
    assert sync(config)["rows_landed"] == 0  # no newer file
    # A newer CTF: pupil 1 now has FSM, and a new pupil without a UPN is quarantined.
    Ctf([Kid(1, year="6", fsm=[("2025-11-01", None)]), Kid(4, upn=None)]).write(
        drop / "ctf_spring.xml", when=LATE
    )
    second = sync(config)
    assert (second["rows_landed"], second["rows_published"]) == (2, 1)
    assert second["watermark"] == LATE.isoformat()
    with engine.connect() as conn:
        published = conn.execute(
            select(pupils.c.upn, pupils.c.fsm_eligible, pupils.c.fsm6, pupils.c.nc_year)
            .where(pupils.c.academy_id == ACADEMY)
            .order_by(pupils.c.upn)
        ).all()
        total = conn.execute(select(func.count()).select_from(pupils)).scalar_one()
    assert total == 3
    assert sorted(published) == sorted(
        [(upn(1), True, True, 6), (upn(2), None, None, 0), (upn(3), None, None, -1)]
    )


def keyed(engine: Engine, table: Table, *columns: str) -> set[tuple[Any, ...]]:
    """This academy's rows of ``table``: (upn, *columns), withdrawn ones left out."""
    query = select(table.c.upn, *(table.c[c] for c in columns)).where(table.c.academy_id == ACADEMY)
    if "withdrawn_at" in table.c:
        query = query.where(table.c.withdrawn_at.is_(None))
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(query)}


def test_sync_every_stream_through_the_pipeline(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_CTF_NO_SECRET", "none")
    drop = tmp_path / "drop"
    write_ctf_folder(drop)
    config = ctf_trust_config(tmp_path, drop)
    orchestration.prepare_warehouse(config_path=str(config))
    assert sync(config)["rows_published"] == 3
    for stream in CtfAdapter.streams - {Stream.PUPILS}:
        done = sync(config, stream)
        assert done["watermark"] == EARLY.isoformat(), stream
    assert keyed(engine, characteristic_periods, "characteristic", "start_date", "end_date") == {
        (upn(1), "fsm", date(2019, 9, 1), date(2021, 7, 31)),
        (upn(1), "fsm", date(2025, 9, 1), None),
    }
    assert keyed(engine, enrolments, "start_date", "end_date", "registration") == {
        (upn(1), date(2021, 9, 1), None, None),
        (upn(2), date(2025, 9, 1), None, None),
    }
    summaries = keyed(engine, attendance_summaries, "academic_year_start", "school_laestab")
    assert summaries == {(upn(1), 2020, "9903002"), (upn(1), 2025, "9904001")}
    assert count(engine, attendance_marks) == 20
    # The KS2 reading score of 79 is below the scale: quarantined, and the maths score kept.
    assert keyed(engine, assessment_results, "key_stage", "subject", "result") == {
        (upn(1), "KS2", "MAT", "104")
    }
    with engine.connect() as conn:
        check, record = conn.execute(
            select(quarantine.c.check_name, quarantine.c.record).where(
                quarantine.c.stream == "assessments"
            )
        ).one()
    assert check == "ks2_test_result_valid"
    assert (record["mis_pupil_id"], record["component"], record["result"]) == (upn(1), "RD", "79")

    # A newer file sends pupil 1's FSM set whole, without the 2019 period: it is withdrawn.
    Ctf([Kid(1, year="6", fsm=[("2025-09-01", "2025-12-19")])]).write(
        drop / "ctf_spring.xml", when=LATE
    )
    sync(config)
    assert sync(config, Stream.CHARACTERISTICS)["watermark"] == LATE.isoformat()
    assert keyed(engine, characteristic_periods, "start_date", "end_date") == {
        (upn(1), date(2025, 9, 1), date(2025, 12, 19))
    }
    with engine.connect() as conn:
        withdrawn = conn.execute(
            select(characteristic_periods.c.start_date).where(
                characteristic_periods.c.withdrawn_at.is_not(None)
            )
        ).scalars()
        assert list(withdrawn) == [date(2019, 9, 1)]

    # A still newer file has pupil 1's FSM history empty: the rest of the set is withdrawn.
    Ctf([Kid(1, year="6", fsm=[])]).write(drop / "ctf_summer.xml", when=LATE + timedelta(days=30))
    sync(config)
    sync(config, Stream.CHARACTERISTICS)
    assert keyed(engine, characteristic_periods, "start_date") == set()
