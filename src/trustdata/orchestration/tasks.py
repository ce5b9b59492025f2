"""Task bodies for one academy's streams and for the warehouse build.

Every function takes primitives (ids, strings) and returns a small JSON-able summary: batch id,
counts, watermark. No rows ever leave the warehouse through here, so nothing personal reaches
XComs or logs.
"""

from __future__ import annotations

import csv
import functools
import logging
import ssl
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from trustdata.adapters.base import Stream, Window
from trustdata.adapters.registry import adapter_class
from trustdata.config.settings import get_settings
from trustdata.config.trust import TrustConfig, load_trust_config
from trustdata.orchestration.credentials import ConnectionLookup, resolve_secret
from trustdata.pipeline.audit import audit
from trustdata.pipeline.batches import get_batch, read_position
from trustdata.pipeline.land import land
from trustdata.pipeline.publish import BatchBlocked, publish
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.migrate import upgrade
from trustdata.warehouse.structure import sync_structure

log = logging.getLogger(__name__)

Summary = dict[str, Any]


def trust_config(config_path: str | None) -> TrustConfig:
    """The trust config at ``config_path``, or at the settings' path when None."""
    return load_trust_config(Path(config_path) if config_path else get_settings().trust_config)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate checks, built once a process (each build reads the CA
    bundle, about 20 ms, and every landing opens a client)."""
    return httpx.create_ssl_context()


def _engine() -> Engine:
    return get_engine(warehouse_url())


def prepare_warehouse(*, config_path: str | None = None) -> Summary:
    """Migrate the pipeline's schemas and write the trust's structure (idempotent)."""
    trust = trust_config(config_path)
    url = warehouse_url()
    upgrade(url)
    sync_structure(get_engine(url), trust)
    return {"trust": trust.id, "academies": len(trust.academies)}


def land_stream(
    *,
    academy_id: str,
    stream: str,
    run_id: str | None = None,
    config_path: str | None = None,
    full: bool = False,
    as_at: str | None = None,
    academic_year: str | None = None,
    connection_lookup: ConnectionLookup | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Summary:
    """Extract one stream of one academy incrementally and land it in staging as a batch.

    The window starts at the stream's published watermark, less the academy's look-back for
    attendance (registers are corrected after the fact); ``full`` ignores the watermark.
    ``as_at`` (YYYY-MM-DD, the run's logical date) is the date sources that only hold dated
    periods judge "eligible now" flags on; None means today. ``academic_year`` (e.g.
    ``2024-25``) makes this a backfill: a full read whose marks are kept to that year
    (1 September to 31 August), published without moving the stream's watermark.
    """
    dates = academic_year_dates(academic_year) if academic_year else None
    trust = trust_config(config_path)
    academy = trust.academy(academy_id)
    kind = Stream(stream)
    engine = _engine()
    cls = adapter_class(academy.adapter.kind)
    options = cls.Options.model_validate(academy.adapter.options)
    secret = resolve_secret(academy.adapter.credential, academy.id, connection_lookup)
    with httpx.Client(
        timeout=httpx.Timeout(60.0, connect=10.0), transport=transport, verify=_tls_context()
    ) as client:
        adapter = cls(options=options, secret=secret, client=client)
        with engine.connect() as conn:
            position = read_position(conn, academy.id, kind.value, adapter.source_key())
        watermark = position.watermark
        since = None
        full = full or dates is not None
        if watermark is not None and not full:
            since = watermark - academy.lookback if kind is Stream.ATTENDANCE else watermark
        window = Window(
            updated_after=since,
            cursor=None if full else position.cursor,
            as_at=date.fromisoformat(as_at) if as_at else None,
            dates=dates,
        )
        result = land(
            engine=engine,
            adapter=adapter,
            academy_id=academy.id,
            stream=kind,
            window=window,
            run_id=run_id,
            code_map=academy.code_map,
            watermark_before=watermark,
        )
    return {
        "batch_id": str(result.batch_id),
        "academy_id": academy.id,
        "stream": kind.value,
        "rows_landed": result.rows,
        "updated_after": since.isoformat() if since else None,
        "watermark": result.watermark.isoformat() if result.watermark else None,
        "cursor": result.cursor,
        "backfill": academic_year,
    }


#: The trust's term dates (a dbt seed): the warehouse places every mark in one of their years.
CALENDAR_SEED = (
    Path(__file__).resolve().parents[3] / "transforms" / "seeds" / "academic_calendar.csv"
)


def calendar_years(seed: Path = CALENDAR_SEED) -> set[int]:
    """The academic years (by the calendar year they start in) the term-date seed holds."""
    with seed.open(encoding="utf-8", newline="") as handle:
        return {int(row["academic_year_start"]) for row in csv.DictReader(handle)}


def academic_year_dates(academic_year: str) -> tuple[date, date]:
    """The first and last day of an academic year written ``YYYY-YY`` (1 Sept to 31 Aug).

    Raises ValueError for a year written otherwise, or one the term-date seed does not hold:
    the warehouse build could not place its marks in a term, so nothing is read for it.
    """
    start, _, end = academic_year.partition("-")
    if not (start.isdigit() and end.isdigit() and len(start) == 4 and len(end) == 2) or (
        int(start) + 1
    ) % 100 != int(end):
        raise ValueError(
            f"academic year {academic_year!r}: write it as YYYY-YY, e.g. 2024-25 (the year "
            "that starts in September 2024)"
        )
    years = calendar_years()
    if int(start) not in years:
        held = ", ".join(f"{y}-{(y + 1) % 100:02d}" for y in sorted(years))
        raise ValueError(
            f"academic year {academic_year}: the trust's term dates "
            f"({CALENDAR_SEED.relative_to(CALENDAR_SEED.parents[2])}) hold no half terms for "
            f"it (they hold {held}); add its six half terms, and its closures to "
            "academic_closures.csv, before reading it, or the warehouse cannot place its marks"
        )
    return date(int(start), 9, 1), date(int(start) + 1, 8, 31)


def audit_stream(*, batch_id: str, config_path: str | None = None) -> Summary:
    """Validate a landed batch with its suite under the academy's quality rules.

    A blocked batch raises BatchBlocked naming the problems.
    """
    engine = _engine()
    with engine.connect() as conn:
        academy_id = get_batch(conn, uuid.UUID(batch_id)).academy_id
    academy = trust_config(config_path).academy(academy_id)
    result = audit(engine=engine, batch_id=uuid.UUID(batch_id), academy=academy)
    summary = {
        "batch_id": batch_id,
        "status": result.status,
        "rows_quarantined": result.quarantined,
        "problems": result.problems,
    }
    if result.blocked:
        raise BatchBlocked(f"batch {batch_id} blocked: " + "; ".join(result.problems))
    return summary


def publish_stream(
    *, batch_id: str, config_path: str | None = None, reconcile: bool = False
) -> Summary:
    """Publish an audited batch and advance its watermark in the same transaction.

    A batch that would withdraw more than the academy's ``max_removal_share`` of its stored
    rows is blocked instead (BatchBlocked names the counts). ``reconcile`` publishes a full
    read as a reconciliation (see ``trustdata.pipeline.reconcile``).
    """
    engine = _engine()
    with engine.connect() as conn:
        academy_id = get_batch(conn, uuid.UUID(batch_id)).academy_id
    academy = trust_config(config_path).academy(academy_id)
    result = publish(
        engine=engine,
        batch_id=uuid.UUID(batch_id),
        max_removal_share=academy.max_removal_share,
        reconcile_read=reconcile,
    )
    return {
        "batch_id": batch_id,
        "status": result.status,
        "rows_published": result.rows_published,
        "rows_inserted": result.counts.inserted,
        "rows_updated": result.counts.updated,
        "rows_removed": result.counts.removed,
        "watermark": result.watermark.isoformat() if result.watermark else None,
    }


def quality_docs_folder(academy_id: str | None = None) -> Path:
    """Where an academy's Data Docs site is written (the trust's, without an academy)."""
    return get_settings().data_dir / "data_docs" / (academy_id or "trust")


def render_quality_docs(*, academy_id: str | None = None, per_feed: int = 10) -> Summary:
    """Render the Great Expectations Data Docs of an academy's (or the trust's) validations."""
    from trustdata.quality.docs import build_data_docs

    index, rendered = build_data_docs(
        _engine(), quality_docs_folder(academy_id), academy_id=academy_id, per_feed=per_feed
    )
    return {"academy_id": academy_id, "validations": rendered, "index": str(index)}


def build_warehouse(*, select: str | None = None, full_refresh: bool = False) -> Summary:
    """Run ``dbt build`` over the marts (optionally a selection) against the warehouse.

    ``full_refresh`` rebuilds incremental models (the attendance fact) from scratch, as a
    change to the code table needs.
    """
    from trustdata.warehouse.dbt import run_dbt
    from trustdata.warehouse.partitions import refresh_parent_statistics

    args = ["build"] + (["--select", select] if select else [])
    args += ["--full-refresh"] if full_refresh else []
    with _engine().begin() as conn:
        refresh_parent_statistics(conn)
    run_dbt(args, url=warehouse_url())
    return {"dbt": " ".join(args), "status": "success"}
