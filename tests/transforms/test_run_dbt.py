"""Unit tests of the dbt runner's connection handling and of the seed's provenance (no DB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from trustdata.warehouse.dbt import PROJECT_DIR, dbt_env

REPO = Path(__file__).resolve().parents[2]


def test_env_from_a_tcp_url() -> None:
    env = dbt_env("postgresql+psycopg://loader:s%40cret@db.example:6543/warehouse")
    assert env == {
        "TRUSTDATA_DBT_HOST": "db.example",
        "TRUSTDATA_DBT_PORT": "6543",
        "TRUSTDATA_DBT_USER": "loader",
        "TRUSTDATA_DBT_PASSWORD": "s@cret",
        "TRUSTDATA_DBT_DBNAME": "warehouse",
    }


def test_env_from_a_unix_socket_url() -> None:
    env = dbt_env("postgresql+psycopg://postgres@/trust?host=/run/postgresql")
    assert env["TRUSTDATA_DBT_HOST"] == "/run/postgresql"
    assert env["TRUSTDATA_DBT_PORT"] == "5432"
    assert env["TRUSTDATA_DBT_USER"] == "postgres"
    assert env["TRUSTDATA_DBT_PASSWORD"] == ""
    assert env["TRUSTDATA_DBT_DBNAME"] == "trust"
    # As in psycopg, the query's host wins over the authority part.
    both = dbt_env("postgresql+psycopg://postgres@localhost/trust?host=/run/postgresql")
    assert both["TRUSTDATA_DBT_HOST"] == "/run/postgresql"


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@db.example/", "postgresql+psycopg://postgres@/trust"]
)
def test_env_needs_a_host_and_a_database(url: str) -> None:
    with pytest.raises(ValueError, match="host"):
        dbt_env(url)


def test_project_dir_is_the_repository_transforms() -> None:
    assert PROJECT_DIR == REPO / "transforms"
    assert (PROJECT_DIR / "dbt_project.yml").is_file()


def test_seed_is_a_byte_for_byte_copy_of_the_domain_code_table() -> None:
    # The pipeline validates codes with the domain table and dbt classifies them with the seed:
    # if the two drifted, a mark could pass one and fail the other.
    seed = PROJECT_DIR / "seeds" / "attendance_codes.csv"
    domain = REPO / "src" / "trustdata" / "domain" / "attendance_codes.csv"
    assert seed.read_bytes() == domain.read_bytes()


def test_build_warehouse_passes_full_refresh_to_dbt(
    monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    # The attendance fact is incremental: a change to the code table needs a full refresh.
    from trustdata.orchestration import tasks
    from trustdata.warehouse import dbt

    calls: list[list[str]] = []
    monkeypatch.setattr(dbt, "run_dbt", lambda args, *, url: calls.append(args))
    tasks.build_warehouse()  # on the session's warehouse: it first analyses raw marks if due
    tasks.build_warehouse(select="fct_attendance_sessions+", full_refresh=True)
    assert calls == [
        ["build"],
        ["build", "--select", "fct_attendance_sessions+", "--full-refresh"],
    ]
