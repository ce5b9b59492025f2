"""``trustdata onboard``: a clean report for a good academy, a precise one for a broken one.

Against the real sandbox MIS on loopback (and the scripted fake for odd MIS codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox_mis.dataset import generate
from sandbox_mis.testing import running_sandbox
from tests.conftest import write_trust_config
from tests.fakes import TOKEN, FakeWonde, fake_trust_config, mark, student
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
