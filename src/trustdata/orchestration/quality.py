"""Data quality per academy and feed: the latest batch's audit, and rows waiting in quarantine.

For each (academy, stream): the latest batch that was not superseded, its outcome (``ok``,
``warn`` when rows were quarantined and the rest published, ``blocked`` when an error-level
check stopped it, or the batch's own status while it runs or when it failed), the checks it
failed with their reasons, row counts and up to five example MIS pupil ids (never names,
UPNs or any other pupil data), and the quarantined rows of any batch still waiting to be
released (``trustdata release``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, text

EXAMPLES = 5

_LATEST = """
SELECT DISTINCT ON (academy_id, stream)
       academy_id, stream, batch_id, status, source, started_at, finished_at, rows_landed,
       rows_quarantined, message
FROM meta.batches
WHERE status <> 'discarded' AND (CAST(:academy AS text) IS NULL OR academy_id = :academy)
ORDER BY academy_id, stream, started_at DESC
"""

_FAILED = """
WITH held AS (
SELECT batch_id, check_name, max(severity) AS severity, max(reason) AS reason, count(*) AS rows,
       (array_agg(DISTINCT coalesce(record::jsonb ->> 'mis_pupil_id',
                                    record::jsonb ->> 'mis_id')))[1:CAST(:examples AS int)] AS examples
FROM meta.quarantine
WHERE batch_id = ANY(:batches)
GROUP BY batch_id, check_name
)
SELECT c.batch_id, c.check_name, c.severity, c.reason,
       coalesce(held.rows, c.unexpected_count) AS rows, coalesce(held.examples, '{}') AS examples
FROM meta.validation_checks AS c
LEFT JOIN held ON held.batch_id = c.batch_id AND held.check_name = c.check_name
WHERE c.batch_id = ANY(:batches) AND NOT c.success
UNION ALL
SELECT held.batch_id, held.check_name, held.severity, held.reason, held.rows, held.examples
FROM held
WHERE NOT EXISTS (SELECT 1 FROM meta.validation_checks AS c
                  WHERE c.batch_id = held.batch_id AND c.check_name = held.check_name)
ORDER BY 1, 5 DESC NULLS LAST, 2
"""

_WAITING = """
SELECT academy_id, stream, check_name, count(*) AS rows
FROM meta.quarantine
WHERE severity = 'warn' AND released_at IS NULL
  AND (CAST(:academy AS text) IS NULL OR academy_id = :academy)
GROUP BY academy_id, stream, check_name
ORDER BY academy_id, stream, check_name
"""


def _outcome(status: str, quarantined: int, failed: list[dict[str, Any]]) -> str:
    if status in ("published", "audited"):
        return "warn" if quarantined or failed else "ok"
    return status


def quality_rows(conn: Connection, academy_id: str | None = None) -> list[dict[str, Any]]:
    """One row per (academy, stream) that has run, with its failing checks and waiting rows."""
    latest = list(conn.execute(text(_LATEST), {"academy": academy_id}).mappings())
    failed: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    if latest:
        batch_ids = [row["batch_id"] for row in latest]
        rows = conn.execute(text(_FAILED), {"batches": batch_ids, "examples": EXAMPLES})
        for row in rows.mappings():
            failed[row["batch_id"]].append(
                {
                    "check": row["check_name"],
                    "severity": row["severity"],
                    "reason": row["reason"],
                    "rows": row["rows"],
                    "example_mis_pupil_ids": [e for e in row["examples"] if e is not None],
                }
            )
    waiting: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(text(_WAITING), {"academy": academy_id}).mappings():
        waiting[row["academy_id"], row["stream"]].append(
            {"check": row["check_name"], "rows": row["rows"]}
        )
    return [
        {
            **row,
            "outcome": _outcome(row["status"], row["rows_quarantined"], failed[row["batch_id"]]),
            "failed_checks": failed[row["batch_id"]],
            "waiting_release": waiting[row["academy_id"], row["stream"]],
        }
        for row in latest
    ]
