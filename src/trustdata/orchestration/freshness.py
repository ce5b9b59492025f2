"""How fresh each academy's feeds are: the last successful publish and the latest run.

Read from ``meta.freshness`` (a view over ``meta.batches`` and ``meta.watermarks``): counts,
times, statuses and the pipeline's own messages, never pupil data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from trustdata.warehouse.engine import get_engine, warehouse_url

#: Latest-run statuses that mean the feed is not being published.
PROBLEMS = ("failed", "blocked")


def freshness_rows(conn: Connection, academy_id: str | None = None) -> list[dict[str, Any]]:
    """One row per (academy, stream) that has run, ordered by academy and stream, with
    ``healthy`` false when the latest run failed or was blocked."""
    query = "SELECT * FROM meta.freshness"
    if academy_id is not None:
        query += " WHERE academy_id = :academy"
    rows = conn.execute(text(query + " ORDER BY academy_id, stream"), {"academy": academy_id})
    return [{**row, "healthy": row["latest_status"] not in PROBLEMS} for row in rows.mappings()]


def freshness(academy_id: str | None = None) -> list[dict[str, Any]]:
    """``freshness_rows`` from the configured warehouse."""
    with get_engine(warehouse_url()).connect() as conn:
        return freshness_rows(conn, academy_id)


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    minutes = int((now - when).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def render(rows: list[dict[str, Any]], now: datetime) -> str:
    """The rows as a table for a terminal: feed, last publish, latest run and its message."""
    if not rows:
        return "no feed has run yet (run an academy's DAG, or trustdata sync ACADEMY)"
    lines = [f"{'academy':<14} {'stream':<21} {'last published':<16} {'latest run':<10} note"]
    for row in rows:
        note = (row["latest_message"] or "").replace("\n", " ")
        if row["healthy"]:
            note = f"{row['last_rows_published'] or 0} rows changed"
        lines.append(
            f"{row['academy_id']:<14} {row['stream']:<21} "
            f"{_age(row['last_published_at'], now):<16} {row['latest_status']:<10} {note[:120]}"
        )
    return "\n".join(lines)
