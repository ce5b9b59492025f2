"""Drop folders: a file landing in a file academy's folder starts that academy's run.

``new_exports`` counts the files in the academy's drop folder (every pattern its adapter reads)
modified after the newest watermark its streams have published (a file's watermark is its
modification time): a newer file, or nothing published yet, means there is something to sync.
Streams whose report the academy never exports publish no watermark, so they are not waited
for; a file saved with a time in the past is read by the next scheduled run. The watching DAG
emits the academy's drop asset only then, and the academy's DAG is scheduled on that asset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from trustdata.adapters.base import Adapter, AdapterError
from trustdata.adapters.drop_folder import files_after
from trustdata.adapters.registry import adapter_class
from trustdata.config.trust import Academy
from trustdata.orchestration.tasks import trust_config
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.tables import watermarks


def drop_asset_name(academy_id: str) -> str:
    """The asset name of an academy's drop folder."""
    return f"drop_{academy_id}"


def drop_asset_uri(academy_id: str) -> str:
    """The asset a new file in an academy's drop folder updates."""
    return f"trustdata://drop/{academy_id}"


def watches_files(academy: Academy) -> bool:
    """True when the academy's adapter reads a drop folder."""
    return adapter_class(academy.adapter.kind).drop_patterns is not Adapter.drop_patterns


def new_exports(*, academy_id: str, config_path: str | None = None) -> dict[str, Any]:
    """How many files in the academy's drop folder are newer than what it last published."""
    academy = trust_config(config_path).academy(academy_id)
    cls = adapter_class(academy.adapter.kind)
    with httpx.Client() as client:  # file adapters never use it
        adapter = cls(
            options=cls.Options.model_validate(academy.adapter.options), secret="", client=client
        )
        found = adapter.drop_patterns()
    if found is None:
        raise AdapterError(f"academy {academy_id}: adapter {cls.kind} reads no drop folder")
    folder, patterns = found
    since = _newest_watermark(academy_id)
    files = {path for pattern in patterns for _, path in files_after(folder, pattern, since)}
    return {
        "academy_id": academy_id,
        "new_files": len(files),
        "since": since.isoformat() if since else None,
    }


def _newest_watermark(academy_id: str) -> datetime | None:
    """The newest watermark the academy's streams have published; None before any."""
    with get_engine(warehouse_url()).connect() as conn:
        newest: datetime | None = conn.execute(
            select(func.max(watermarks.c.watermark)).where(watermarks.c.academy_id == academy_id)
        ).scalar_one()
    return newest
