"""``trustdata onboard``: a clean report for a good academy, a precise one for a broken one.

Wonde academies against the real sandbox MIS on loopback (and the scripted fake for odd MIS
codes), Arbor academies against the Arbor-style sandbox, CSV and CTF academies against
generated drop folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox_mis.arbor_testing import ArborSandbox, serving_arbor
from sandbox_mis.dataset import DEMO_TOKEN, Dataset, generate
from sandbox_mis.testing import running_sandbox
from tests.adapters.test_csv_export import write_drop_folder
from tests.adapters.test_ctf import MARKS, OWN, PREVIOUS, URN, Ctf, Kid, Year
from tests.conftest import write_trust_config
from tests.fakes import TOKEN, FakeWonde, fake_trust_config, mark, student
from tests.helpers import one_academy_config
from trustdata.cli import main
from trustdata.onboarding import onboard


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running_sandbox(generate(scale=0.03)) as base:
        yield base


@pytest.fixture
def config(tmp_path: Path, sandbox: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TD_TEST_TOKEN", "sandbox-demo-token")
    return write_trust_config(tmp_path, sandbox)


def test_good_academy_is_ready(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "onboard", "ashbrook"]) == 0
    out = capsys.readouterr().out
    assert "Onboarding ashbrook (Ashbrook Academy, URN 990002) with adapter wonde" in out
    assert "[ok  ] connection" in out and "[ok  ] attendance codes" in out
    assert "[ok  ] enrolments: sample of" in out
    assert "[ok  ] enrolments rows: every row passes the audit's rules" in out
    assert "Result: ready for its first sync" in out
    assert "FAIL" not in out


def test_wrong_token(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TD_TEST_TOKEN", "not-the-token")
    report = onboard("oakfield", config_path=config)
    text = report.render()
    assert not report.ready
    assert "[FAIL] connection: GET /v1.0/schools/A1000000001: HTTP 401" in text
    assert "check the token" in text and "not-the-token" not in text


def test_missing_credential(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TD_TEST_TOKEN")
    text = onboard("oakfield", config_path=config).render()
    assert (
        "[FAIL] credential: academy oakfield: environment variable TD_TEST_TOKEN is not set" in text
    )


def test_wrong_school_id(config: Path) -> None:
    data = yaml.safe_load(config.read_text())
    data["academies"][0]["adapter"]["options"]["school_id"] = "A999"
    config.write_text(yaml.safe_dump(data))
    text = onboard("oakfield", config_path=config).render()
    assert "[FAIL] connection" in text and "HTTP 404" in text and "check the school id" in text


def test_unmapped_codes_are_named_with_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_FAKE_TOKEN", TOKEN)
    from datetime import date

    fake = FakeWonde(students=[student(1), student(2)])
    days = (date(2025, 9, 8), date(2025, 9, 9))
    fake.marks = [mark("B1", d, "AM", "I1") for d in days] + [mark("B2", days[0], "PM", "ZZ")]
    fake.marks.append(mark("B2", days[1], "AM", "/"))
    report = onboard(
        "fakeacademy", config_path=Path(fake_trust_config(tmp_path)), transport=fake.transport()
    )
    text = report.render()
    assert (
        "[FAIL] attendance codes: not national codes in force on the marks' dates: 'I1' x 2, 'ZZ' x 1"
        in text
    )
    assert "code_map" in text
    fixed = Path(fake_trust_config(tmp_path, code_map={"I1": "I", "ZZ": "O"}))
    assert onboard("fakeacademy", config_path=fixed, transport=fake.transport()).ready


def test_unknown_academy_is_a_clear_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "onboard", "nowhere"]) == 2
    assert "no academy 'nowhere' in the trust config (known: oakfield" in capsys.readouterr().err


# --- Arbor: the Arbor-style sandbox --------------------------------------------------------------

ARBOR_SCHOOL = "A1000000001"


@pytest.fixture(scope="module")
def arbor_dataset() -> Dataset:
    return generate(scale=0.02)


@pytest.fixture
def arbor(arbor_dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArborSandbox]:
    """A sandbox of this test's own (a test may change the school), and the password set."""
    monkeypatch.setenv("TD_ARBOR_TOKEN", DEMO_TOKEN)
    with serving_arbor(arbor_dataset) as sandbox:
        yield sandbox


def arbor_config(folder: Path, host: str, *, code_map: dict[str, str] | None = None) -> Path:
    """A one-academy trust config whose academy is the Arbor school at ``host``."""
    return one_academy_config(
        folder,
        academy_id="larchwood",
        urn="990801",
        kind="arbor",
        options={
            "base_url": host,
            "username": ARBOR_SCHOOL,
            "page_size": 1000,
            "max_requests_per_second": 100,
        },
        credential_env="TD_ARBOR_TOKEN",
        code_map=code_map,
    )


def test_good_arbor_academy_is_ready(
    tmp_path: Path, arbor: ArborSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL))
    assert main(["--config", str(config), "onboard", "larchwood"]) == 0
    out = capsys.readouterr().out
    assert "Onboarding larchwood (Larchwood Academy, URN 990801) with adapter arbor" in out
    assert "[ok  ] connection" in out and "[ok  ] attendance codes" in out
    for check in ("enrolments rows", "characteristics rows", "deletions"):
        assert f"[ok  ] {check}: " in out
    assert "Result: ready for its first sync" in out and "FAIL" not in out


def test_arbor_wrong_password_fails_without_showing_it(
    tmp_path: Path, arbor: ArborSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_ARBOR_TOKEN", "not-the-password")
    report = onboard("larchwood", config_path=arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL)))
    text = report.render()
    assert not report.ready
    assert f"[FAIL] connection: GET /{ARBOR_SCHOOL}/rest-v2/students: HTTP 401" in text
    assert "check the username option and the password" in text
    assert "not-the-password" not in text
    assert "pupils" not in text  # nothing is read without a connection


def test_arbor_wrong_school_fails_at_the_connection(tmp_path: Path, arbor: ArborSandbox) -> None:
    config = arbor_config(tmp_path, arbor.host("A1000000999"))
    text = onboard("larchwood", config_path=config).render()
    assert "[FAIL] connection: GET /A1000000999/rest-v2/students: HTTP 404" in text
    assert "check base_url (the school's Arbor host)" in text


def test_arbor_code_missing_from_code_map_is_named(
    tmp_path: Path, arbor: ArborSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = arbor.school(ARBOR_SCHOOL)
    school.add_code("I1", like="I")  # the school's own sub-code for illness
    with httpx.Client(auth=(ARBOR_SCHOOL, DEMO_TOKEN)) as client:
        first = client.get(
            f"{arbor.host(ARBOR_SCHOOL)}/rest-v2/attendance-records", params={"page-size": "1"}
        ).json()["attendanceRecords"][0]
    school.correct_mark(first["id"], "I1")  # the first register: inside any sample
    report = onboard("larchwood", config_path=arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL)))
    text = report.render()
    assert (
        "[FAIL] attendance codes: not national codes in force on the marks' dates: 'I1' x 1. "
        "Map each MIS code in the academy's code_map, e.g. code_map: {'I1': <national code>}"
    ) in text
    assert (
        "[FAIL] code table: the MIS's code table has codes that map onto no national code: 'I1'."
        in text
    )
    assert text.count("FAIL") == 2
    mapped = arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL), code_map={"I1": "I"})
    assert onboard("larchwood", config_path=mapped).ready


def test_arbor_sub_code_not_yet_used_is_caught_from_the_code_table(
    tmp_path: Path, arbor: ArborSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code no mark in the sample uses (first used in the spring, say) is still named."""
    arbor.school(ARBOR_SCHOOL).add_code("U9", like="U")
    report = onboard("larchwood", config_path=arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL)))
    text = report.render()
    assert (
        "[FAIL] code table: the MIS's code table has codes that map onto no national code: 'U9'."
        in text
    )
    assert "[ok  ] attendance codes" in text
    mapped = arbor_config(tmp_path, arbor.host(ARBOR_SCHOOL), code_map={"U9": "U"})
    assert onboard("larchwood", config_path=mapped).ready


# --- file adapters: CSV reports and CTF files in a drop folder -----------------------------------


def write_ctf(folder: Path) -> dict[str, str]:
    """A drop folder with one clean CTF of two pupils; returns the adapter options."""
    folder.mkdir(parents=True)
    year = Year("2025", OWN, ("20", "0", "19", "1"), "2025-09-01", MARKS)
    first = Kid(
        1,
        year="6",
        fsm=[("2019-09-01", "2021-07-31")],
        schools=[(PREVIOUS, "2019-09-01", "2021-07-31"), (OWN, "2021-09-01", None)],
        attendance=[year],
        results={"KS2": [("2026", "MAT", "TT", None, "104")]},
    )
    second = Kid(2, sex="M", schools=[(OWN, "2025-09-01", None)], attendance=[year])
    Ctf([first, second]).write(folder / "ctf_out.xml")
    return {"folder": str(folder), "urn": URN}


FOLDERS = {"csv": (write_drop_folder, "990901"), "ctf": (write_ctf, URN)}


def file_config(folder: Path, kind: str, options: dict[str, str]) -> Path:
    return one_academy_config(
        folder,
        academy_id="hazelmere",
        urn=FOLDERS[kind][1],
        kind=kind,
        options=options,
        credential_env="TD_NO_SECRET",
    )


@pytest.mark.parametrize("kind", sorted(FOLDERS))
def test_good_file_academy_is_ready(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TD_NO_SECRET", "none")
    config = file_config(tmp_path, kind, FOLDERS[kind][0](tmp_path / "drop"))
    assert main(["--config", str(config), "onboard", "hazelmere"]) == 0
    out = capsys.readouterr().out
    assert f"with adapter {kind}" in out and "[ok  ] connection: the drop folder is readable" in out
    assert "[ok  ] credential: found (this adapter reads files and does not use it)" in out
    assert "[ok  ] attendance codes" in out and "[ok  ] assessments rows" in out
    assert "Result: ready for its first sync" in out and "FAIL" not in out


@pytest.mark.parametrize("kind", sorted(FOLDERS))
def test_file_academy_folder_that_does_not_exist(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TD_NO_SECRET", "none")
    missing = tmp_path / "not-mounted"
    options = {"folder": str(missing), **({"urn": URN} if kind == "ctf" else {})}
    report = onboard("hazelmere", config_path=file_config(tmp_path, kind, options))
    assert not report.ready
    assert (
        f"[FAIL] connection: option 'folder': {missing} is not an existing folder "
        "(check the path and that the drop share is mounted on this machine)"
    ) in report.render()
