"""Shared fixtures: a real PostgreSQL for the session, and a clean warehouse per test.

The server is the embedded PostgreSQL (pgserver, under ``.data/test-pg``) unless
``TRUSTDATA_TEST_POSTGRES_URL`` names another one (e.g. the machine's own at 127.0.0.1:5432).
Each session works in its own freshly created database, dropped at the end.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tests.fakes import TOKEN, fake_trust_config
from trustdata import orchestration
from trustdata.config.settings import PROJECT_ROOT, get_settings
from trustdata.warehouse.embedded import socket_url, start_embedded
from trustdata.warehouse.engine import get_engine, psycopg_conninfo
from trustdata.warehouse.migrate import upgrade
from trustdata.warehouse.partitions import LEAF
from trustdata.warehouse.tables import SCHEMAS

TEST_DATA_DIR = PROJECT_ROOT / ".data" / "test"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a maintenance database on the test PostgreSQL server."""
    configured = os.environ.get("TRUSTDATA_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    server = start_embedded(TEST_DATA_DIR)
    yield socket_url(TEST_DATA_DIR, "postgres")
    del server


@pytest.fixture(scope="session")
def warehouse_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, migrated warehouse database for this test session."""
    name = f"td_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg_conninfo(postgres_admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    previous = os.environ.get("TRUSTDATA_WAREHOUSE_URL")
    os.environ["TRUSTDATA_WAREHOUSE_URL"] = url
    get_settings.cache_clear()
    yield url
    get_engine(url).dispose()
    if previous is None:
        os.environ.pop("TRUSTDATA_WAREHOUSE_URL", None)
    else:
        os.environ["TRUSTDATA_WAREHOUSE_URL"] = previous
    get_settings.cache_clear()
    with psycopg.connect(admin, autocommit=True) as conn:
        # The session's Airflow metadata database (tests/dags/airflow_run.py), if made.
        for database in (name, f"{name}_airflow"):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


BATCH_TABLE = re.compile(r"staging\.attendance_landing_[0-9a-f]{32}")
MARKS_LEAF = re.compile(rf"raw\.{LEAF.pattern}")


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[Engine]:
    """The warehouse engine, with every pipeline table emptied before the test.

    Only the tables holding rows are truncated (CASCADE reaches any empty table that references
    one): a TRUNCATE costs some milliseconds a table, and most tests fill a few of them.
    """
    engine = get_engine(warehouse_url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                    "WHERE schemaname = ANY(:schemas) AND tablename <> 'alembic_version'"
                ),
                {"schemas": list(SCHEMAS)},
            )
            .scalars()
            .all()
        )
        # Batches' own staging tables go with the batches (trustdata.pipeline.staging), and
        # the partitions of raw marks with the marks (trustdata.warehouse.partitions), so each
        # test's first load of an academy's year makes its partition as a real one does.
        own = [t for t in tables if BATCH_TABLE.fullmatch(t) or MARKS_LEAF.fullmatch(t)]
        if own:
            conn.execute(text(f"DROP TABLE {', '.join(own)} CASCADE"))
        tables = [t for t in tables if t not in own]
        probe = " UNION ALL ".join(
            f"SELECT {i} WHERE EXISTS (SELECT FROM {table})" for i, table in enumerate(tables)
        )
        filled = [tables[i] for i in conn.execute(text(probe)).scalars()] if probe else []
        if filled:
            conn.execute(text(f"TRUNCATE {', '.join(filled)} CASCADE"))
    yield engine


def write_trust_config(folder: Path, base_url: str, *, token_env: str = "TD_TEST_TOKEN") -> Path:
    """Write a trust config for the sandbox's demo schools at ``base_url``; return its path."""
    import yaml

    academies = [
        ("oakfield", "990001", "Oakfield Primary Academy", "primary", "north", "A1000000001"),
        ("ashbrook", "990002", "Ashbrook Academy", "secondary", "north", "A1000000002"),
        ("elmstead", "990003", "Elmstead Primary Academy", "primary", "south", "A1000000003"),
        ("yewtree", "990004", "Yewtree Academy", "secondary", "south", "A1000000004"),
    ]
    config = {
        "id": "demo_trust",
        "name": "Demo Learning Trust",
        "hubs": [{"id": "north", "name": "North Hub"}, {"id": "south", "name": "South Hub"}],
        "academies": [
            {
                "id": academy_id,
                "urn": urn,
                "name": name,
                "phase": phase,
                "hub": hub,
                "adapter": {
                    "kind": "wonde",
                    "options": {
                        "base_url": base_url,
                        "school_id": school,
                        "per_page": 1000,
                        "max_requests_per_second": 100,
                    },
                    "credential": {"env": token_env},
                },
            }
            for academy_id, urn, name, phase, hub, school in academies
        ],
    }
    path = folder / "trust.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> str:
    """A one-academy trust read from the scripted fake MIS (``tests.fakes``), its token set and
    the warehouse prepared. Modules that read the sandbox MIS define their own ``config``."""
    monkeypatch.setenv("TD_FAKE_TOKEN", TOKEN)
    path = fake_trust_config(tmp_path)
    orchestration.prepare_warehouse(config_path=path)
    return path
