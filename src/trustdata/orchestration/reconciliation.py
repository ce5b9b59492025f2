"""Reconcile an academy: full reads of its roll and of the academic year's marks, compared.

The ``reconcile`` DAG (and ``trustdata reconcile``) runs this per academy on the trust's
``reconcile_schedule``. Each stream is landed as a full read, audited like any batch, and
published as a reconciliation: what the warehouse holds but the MIS no longer does is removed,
unless that is more than the academy's ``max_removal_share``, when the batch is blocked and the
task fails (which alerts). Only adapters whose full reads are complete take part.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select

from trustdata.adapters.base import Stream
from trustdata.adapters.registry import adapter_class
from trustdata.orchestration.credentials import ConnectionLookup
from trustdata.orchestration.tasks import (
    audit_stream,
    land_stream,
    publish_stream,
    trust_config,
)
from trustdata.pipeline.reconcile import RECONCILED
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.tables import reconciliations


def academic_year_of(day: date) -> str:
    """The academic year (``YYYY-YY``) a day falls in: 1 September to 31 August."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def reconcile_academy(
    *,
    academy_id: str,
    config_path: str | None = None,
    run_id: str | None = None,
    as_at: str | None = None,
    academic_year: str | None = None,
    connection_lookup: ConnectionLookup | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Reconcile the academy's roll, then its marks of ``academic_year`` (default: as_at's).

    Raises BatchBlocked when a stream's removals are over the threshold (nothing is removed,
    and later streams are not read). Returns the outcome of each stream (counts only).
    """
    academy = trust_config(config_path).academy(academy_id)
    cls = adapter_class(academy.adapter.kind)
    streams = [s for s in RECONCILED if s in cls.complete_reads]
    if not streams:
        return {
            "academy_id": academy_id,
            "skipped": f"the {academy.adapter.kind} adapter's reads are not complete (a file "
            "holds what it was saved with); its rows are removed on explicit deletions only",
        }
    year = academic_year or academic_year_of(date.fromisoformat(as_at) if as_at else date.today())
    outcomes: dict[str, Any] = {"academy_id": academy_id, "academic_year": year}
    for stream in streams:
        landed = land_stream(
            academy_id=academy_id,
            stream=stream.value,
            run_id=run_id,
            config_path=config_path,
            full=True,
            as_at=as_at,
            academic_year=year if stream is Stream.ATTENDANCE else None,
            connection_lookup=connection_lookup,
            transport=transport,
        )
        audit_stream(batch_id=landed["batch_id"], config_path=config_path)
        publish_stream(batch_id=landed["batch_id"], config_path=config_path, reconcile=True)
        outcomes[stream.value] = outcome(landed["batch_id"])
    return outcomes


def outcome(batch_id: str) -> dict[str, Any]:
    """The recorded reconciliation of a batch."""
    columns = [c for c in reconciliations.c if c.name not in ("reconciliation_id", "batch_id")]
    with get_engine(warehouse_url()).connect() as conn:
        row = conn.execute(
            select(*columns).where(reconciliations.c.batch_id == uuid.UUID(batch_id))
        ).one()
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row._mapping.items()}
