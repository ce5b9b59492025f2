"""Helpers the end-to-end tests share: a one-academy trust config, a full sync, a row count,
read API keys, and the two-hub test trust the dbt tests build on."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text

from trustdata import orchestration
from trustdata.warehouse import tables
from trustdata.warehouse.engine import get_engine
from trustdata.warehouse.partitions import empty_leaf_sql, leaf_exists, year_of

#: The schemas dbt builds into; dropped between dbt test modules so each builds afresh.
DBT_SCHEMAS = ("marts", "analytics_intermediate", "analytics_staging", "analytics")


def one_academy_config(
    folder: Path,
    *,
    academy_id: str,
    urn: str,
    kind: str,
    options: dict[str, Any],
    credential_env: str,
    code_map: dict[str, str] | None = None,
) -> Path:
    """Write a trust config holding one academy read by adapter ``kind``; return its path."""
    academy = {
        "id": academy_id,
        "urn": urn,
        "name": f"{academy_id.title()} Academy",
        "phase": "primary",
        "hub": "hub_a",
        "code_map": code_map or {},
        "adapter": {"kind": kind, "options": options, "credential": {"env": credential_env}},
    }
    config = {
        "id": f"{kind}_trust",
        "name": f"{kind.upper()} Trust",
        "hubs": [{"id": "hub_a", "name": "Hub A"}],
        "academies": [academy],
    }
    path = folder / "trust.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def sync_stream(
    config: str | Path,
    academy_id: str,
    stream: str,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Land, audit and publish one stream; return the merged task summaries."""
    landed = orchestration.land_stream(
        academy_id=academy_id, stream=stream, config_path=str(config), transport=transport
    )
    audited = orchestration.audit_stream(batch_id=landed["batch_id"], config_path=str(config))
    published = orchestration.publish_stream(batch_id=landed["batch_id"], config_path=str(config))
    return {**landed, **audited, **published}


def count(engine: Engine, table: Table) -> int:
    """Rows in ``table``."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def batch_tables(engine: Engine) -> list[str]:
    """The attendance batches' own staging tables that exist (trustdata.pipeline.staging)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
                    "WHERE schemaname = 'staging' "
                    "AND tablename ~ '^attendance_landing_[0-9a-f]{32}$' ORDER BY 1"
                )
            ).scalars()
        )


def staged_marks(engine: Engine) -> int:
    """Marks waiting in staging: in every attendance batch's own table, and the shared one."""
    with engine.connect() as conn:
        return sum(
            int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in ["staging.attendance_landing", *batch_tables(engine)]
        )


def api_key(engine: Engine, *scopes: str) -> str:
    """A new read API client's key with these scopes (default: trust-wide)."""
    from trustdata.access.clients import create_client

    client_id = f"test-{uuid.uuid4().hex[:12]}"
    return create_client(engine, client_id=client_id, scopes=scopes or ("trust",))


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of a key or token."""
    return {"Authorization": f"Bearer {key}"}


def seed_two_hub_trust(conn: Connection, *, phases: tuple[str, str], adapter_kind: str) -> None:
    """Trust T1 ("Test Trust") with hub HN holding academy A1 and hub HS holding academy A2,
    of the given phases."""
    conn.execute(insert(tables.trust), [{"trust_id": "T1", "name": "Test Trust"}])
    conn.execute(
        insert(tables.hubs),
        [
            {"hub_id": "HN", "trust_id": "T1", "name": "North"},
            {"hub_id": "HS", "trust_id": "T1", "name": "South"},
        ],
    )
    academy = {"urn": "100000", "adapter_kind": adapter_kind, "trust_id": "T1"}
    conn.execute(
        insert(tables.academies),
        [
            {**academy, "academy_id": "A1", "hub_id": "HN", "name": "Academy One"}
            | {"phase": phases[0]},
            {**academy, "academy_id": "A2", "hub_id": "HS", "name": "Academy Two"}
            | {"phase": phases[1]},
        ],
    )


def reset_dbt_inputs(engine: Engine, source_tables: tuple[Table, ...]) -> None:
    """Empty ``source_tables`` (children first) and drop the schemas dbt built."""
    with engine.begin() as conn:
        for table in source_tables:
            conn.execute(delete(table))
        for schema in DBT_SCHEMAS:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def query(url: str, statement: str) -> list[dict[str, Any]]:
    """The rows of a fixed SQL statement (no parameters), as dicts."""
    with get_engine(url).connect() as conn:
        return [dict(row) for row in conn.execute(text(statement)).mappings()]


def insert_marks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert marks straight into raw.attendance_marks, for tests that set the warehouse up by
    hand; any (academy, academic year) partition they need is made first, empty, as a publish
    would make it (trustdata.warehouse.partitions)."""
    for academy_id, year in sorted({(r["academy_id"], year_of(r["mark_date"])) for r in rows}):
        if not leaf_exists(conn, academy_id, year):
            conn.exec_driver_sql(empty_leaf_sql(academy_id, year))
    conn.execute(insert(tables.attendance_marks), rows)
