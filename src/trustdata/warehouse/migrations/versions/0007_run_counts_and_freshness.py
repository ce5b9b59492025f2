"""Run records: rows inserted, updated and removed per batch, and freshness per academy feed.

``meta.freshness`` is a view: one row per (academy, stream) that has ever run, with the last
successful publish, the stored position, and the latest run's outcome (so a feed that has been
failing since its last success shows both).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COUNTS = ("rows_inserted", "rows_updated", "rows_removed")

FRESHNESS = """
CREATE VIEW meta.freshness AS
WITH latest AS (
    SELECT DISTINCT ON (academy_id, stream)
        academy_id, stream, batch_id, status, message, started_at, finished_at
    FROM meta.batches
    ORDER BY academy_id, stream, started_at DESC
), published AS (
    SELECT DISTINCT ON (academy_id, stream)
        academy_id, stream, batch_id, finished_at, rows_published
    FROM meta.batches
    WHERE status = 'published'
    ORDER BY academy_id, stream, finished_at DESC
)
SELECT
    latest.academy_id,
    latest.stream,
    published.finished_at AS last_published_at,
    published.batch_id AS last_published_batch_id,
    published.rows_published AS last_rows_published,
    w.watermark,
    w.cursor,
    w.source,
    latest.batch_id AS latest_batch_id,
    latest.status AS latest_status,
    latest.started_at AS latest_started_at,
    latest.message AS latest_message
FROM latest
LEFT JOIN published USING (academy_id, stream)
LEFT JOIN meta.watermarks AS w USING (academy_id, stream)
"""


def upgrade() -> None:
    """Apply this revision."""
    for name in _COUNTS:
        op.add_column(
            "batches",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
            schema="meta",
        )
    op.execute(FRESHNESS)


def downgrade() -> None:
    """Revert this revision."""
    op.execute("DROP VIEW meta.freshness")
    for name in reversed(_COUNTS):
        op.drop_column("batches", name, schema="meta")
