"""The pipeline tests' shared fixture: a one-academy trust read from the scripted fake MIS.

Modules that read the sandbox MIS instead define their own ``config``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.fakes import TOKEN, fake_trust_config
from trustdata import orchestration


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> str:
    """The fake academy's trust config, with its token set and the warehouse prepared."""
    monkeypatch.setenv("TD_FAKE_TOKEN", TOKEN)
    path = fake_trust_config(tmp_path)
    orchestration.prepare_warehouse(config_path=path)
    return path
