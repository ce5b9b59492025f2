"""The trust config loader: good configs load; each broken one stops with one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trustdata.config.settings import PROJECT_ROOT
from trustdata.config.trust import ConfigError, load_trust_config

DEMO = PROJECT_ROOT / "infra" / "trust.yaml"


def _demo() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_demo_config_loads() -> None:
    config = load_trust_config(DEMO)
    assert [h.id for h in config.hubs] == ["north", "south"]
    assert len(config.academies) == 4
    assert config.academy("ashbrook").phase.value == "secondary"


def _error(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_trust_config(_write(tmp_path, data))
    return str(caught.value)


def test_unknown_adapter_kind(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][1]["adapter"]["kind"] = "simz"
    message = _error(tmp_path, data)
    assert "trust.yaml" in message
    assert "academies['ashbrook'].adapter.kind" in message
    assert "unknown adapter kind 'simz'" in message and "wonde" in message


def test_missing_urn(tmp_path: Path) -> None:
    data = _demo()
    del data["academies"][0]["urn"]
    message = _error(tmp_path, data)
    assert message.count("\n") == 0
    assert "academies['oakfield'].urn: Field required (add it)" in message


def test_duplicate_academy_id(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][2]["id"] = "oakfield"
    message = _error(tmp_path, data)
    assert "academies['oakfield'].id: duplicate academy id" in message


def test_misspelt_field(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][3]["shedule"] = data["academies"][3].pop("schedule", "@daily")
    message = _error(tmp_path, data)
    assert (
        "academies['yewtree'].shedule: unknown field (remove it or check its spelling)" in message
    )


def test_misspelt_adapter_option(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][0]["adapter"]["options"]["school"] = "A1"
    message = _error(tmp_path, data)
    assert "academies['oakfield'].adapter.options.school: unknown field" in message


def test_unknown_hub_and_bad_code_map(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][0]["hub"] = "west"
    assert "academies['oakfield'].hub: unknown hub 'west'" in _error(tmp_path, data)
    data = _demo()
    data["academies"][0]["code_map"] = {"I1": "ZZ"}
    assert "not national attendance codes" in _error(tmp_path, data)


def test_secret_in_config_is_refused(tmp_path: Path) -> None:
    data = _demo()
    data["academies"][0]["adapter"]["credential"] = {"token": "abc"}
    message = _error(tmp_path, data)
    assert "credential.token: unknown field" in message
    assert "abc" not in message


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"trust.yaml: line \d+: not valid YAML"):
        load_trust_config(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_trust_config(tmp_path / "nope.yaml")


def test_folder_of_academy_files(tmp_path: Path) -> None:
    data = _demo()
    academies = data.pop("academies")
    (tmp_path / "academies").mkdir()
    _write(tmp_path, data)
    for academy in academies:
        (tmp_path / "academies" / f"{academy['id']}.yaml").write_text(yaml.safe_dump(academy))
    assert len(load_trust_config(tmp_path).academies) == 4
    broken = dict(academies[0], urn="12")
    (tmp_path / "academies" / "oakfield.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(ConfigError, match=r"academies/oakfield.yaml: urn: String should match"):
        load_trust_config(tmp_path)


@pytest.mark.parametrize("schedule", ["daily", "every day", "5 * * *", "@sometimes"])
def test_a_schedule_that_is_not_cron_is_named(tmp_path: Path, schedule: str) -> None:
    data = _demo()
    data["academies"][0]["schedule"] = schedule
    message = _error(tmp_path, data)
    assert f"academies['oakfield'].schedule: Value error, {schedule!r} is not a schedule" in message
    assert "@daily" in message


@pytest.mark.parametrize("schedule", ["@daily", "@hourly", "30 5 * * 1-5", "*/15 7-18 * * *"])
def test_presets_and_crons_are_schedules(tmp_path: Path, schedule: str) -> None:
    data = _demo()
    data["academies"][0]["schedule"] = schedule
    assert load_trust_config(_write(tmp_path, data)).academy("oakfield").schedule == schedule
