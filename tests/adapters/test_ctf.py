"""The CTF adapter over generated CTF 25 files, then through the real pipeline.

Every fixture is synthetic: UPNs come from ``make_upn``, names are made up, URNs are 99xxxx.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from tests.helpers import one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.base import AdapterError, Page, Stream, Window
from trustdata.adapters.ctf import CtfAdapter, CtfOptions, _sections
from trustdata.domain.records import PupilRecord
from trustdata.domain.upn import make_upn
from trustdata.warehouse.tables import pupils

URN = "990001"
EARLY = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
LATE = datetime(2026, 1, 16, 18, 0, tzinfo=UTC)
AS_AT = "2026-01-15T10:30:00"  # the header DateTime: FSM is judged on 15 January 2026


def upn(n: int) -> str:
    """A made-up but valid UPN."""
    return make_upn(990, 4001, 20, n)


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
    # Present in real files, read by nothing yet: it must be skipped, not parsed into records.
    year = _add(_add(elem, "Attendance"), "YearData")
    _add(year, "Year", "2025")
    _add(_add(year, "AttendSessions"), "AttendanceMarks", "/\\" * 30)


@dataclass
class Ctf:
    """A synthetic CTF 25 file."""

    kids: list[Kid] = field(default_factory=list)
    document_name: str = "Common Transfer File"
    version: str = "25.0"
    urn: str = URN
    when: str = AS_AT

    def xml(self) -> bytes:
        root = ET.Element("CTfile")
        header = _add(root, "Header")
        _add(header, "DocumentName", self.document_name)
        _add(header, "CTFversion", self.version)
        _add(header, "DateTime", self.when)
        _add(header, "DocumentQualifier", "full")
        _add(header, "SupplierID", "SYNTHETIC")
        source = _add(header, "SourceSchool")
        for tag, text in [("LEA", "990"), ("Estab", "4001"), ("URN", self.urn)]:
            _add(source, tag, text)
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


def write_ctf_folder(folder: Path) -> dict[str, Any]:
    """A drop folder with one CTF of three pupils; returns the options."""
    folder.mkdir(parents=True, exist_ok=True)
    Ctf([Kid(1), Kid(2, sex="M", year="R"), Kid(3, year="N1")]).write(folder / "ctf_out.xml")
    return {"folder": str(folder), "urn": URN}


def adapter(**options: Any) -> CtfAdapter:
    with httpx.Client() as client:  # unused by file adapters; the contract requires one
        return CtfAdapter(options=CtfOptions.model_validate(options), secret="none", client=client)


def read(source: CtfAdapter, after: datetime | None = None) -> list[Page]:
    return list(source.fetch(Stream.PUPILS, Window(updated_after=after)))


def roll(source: CtfAdapter, after: datetime | None = None) -> list[PupilRecord]:
    return [r for page in read(source, after) for r in page.records if isinstance(r, PupilRecord)]


def one(tmp_path: Path, kid: Kid, **options: Any) -> PupilRecord:
    Ctf([kid]).write(tmp_path / "one.xml")
    (record,) = roll(adapter(folder=str(tmp_path), **options))
    return record


def error(tmp_path: Path, ctf: Ctf | bytes, **options: Any) -> str:
    path = tmp_path / "bad.xml"
    path.write_bytes(ctf if isinstance(ctf, bytes) else ctf.xml())
    with pytest.raises(AdapterError) as caught:
        read(adapter(folder=str(tmp_path), **options))
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
        mis_id=upn(1), upn=upn(1), date_of_birth=date(2016, 3, 1), gender="F", nc_year=5,
        fsm_eligible=None, fsm6=None, in_care=False, previously_in_care=None,
        service_child=None, sen_status=None, eal=None, admission_date=None,
        leaving_date=None, source_updated_at=EARLY,
    )  # fmt: skip
    assert (reception.gender, reception.nc_year, nursery.nc_year) == ("M", 0, -1)


def test_pages_respect_page_size(tmp_path: Path) -> None:
    Ctf([Kid(n) for n in range(1, 6)]).write(tmp_path / "a.xml")
    pages = read(adapter(folder=str(tmp_path), page_size=2))
    assert [len(p.records) for p in pages] == [2, 2, 1]


def test_options_are_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CtfOptions.model_validate({"folder": "/x", "pupils_pattern": "*.xml"})
    with pytest.raises(ValidationError, match="urn"):
        CtfOptions.model_validate({"folder": "/x", "urn": "12345"})


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
    adapter(folder=str(tmp_path)).check_connection()  # without 'urn' any school is read


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
    seen = list(_sections(path))
    assert [e.tag for e in seen] == ["Header", "Pupil", "Pupil", "Pupil"]
    assert all(len(e) == 0 and not e.text for e in seen)  # cleared and detached after use


def test_other_streams_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="no stream 'attendance'"):
        list(adapter(folder=str(tmp_path)).fetch(Stream.ATTENDANCE, Window()))


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


def sync(config: Path) -> dict[str, Any]:
    return sync_stream(config, ACADEMY, "pupils")


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
    Ctf([Kid(1, fsm=[("2025-11-01", None)]), Kid(4, upn=None)]).write(
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
        [(upn(1), True, True, 5), (upn(2), None, None, 0), (upn(3), None, None, -1)]
    )
