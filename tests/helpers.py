"""Helpers the end-to-end tests share: a one-academy trust config, a full sync, a row count,
read API keys."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, Table, func, select

from trustdata import orchestration


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


def api_key(engine: Engine, *scopes: str) -> str:
    """A new read API client's key with these scopes (default: trust-wide)."""
    from trustdata.access.clients import create_client

    client_id = f"test-{uuid.uuid4().hex[:12]}"
    return create_client(engine, client_id=client_id, scopes=scopes or ("trust",))


def bearer(key: str) -> dict[str, str]:
    """The Authorization header of a key or token."""
    return {"Authorization": f"Bearer {key}"}
