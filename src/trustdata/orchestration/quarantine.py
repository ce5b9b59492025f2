"""Release an academy's quarantined rows once their cause is fixed (see ``pipeline.release``)."""

from __future__ import annotations

from trustdata.adapters.base import Stream
from trustdata.orchestration.tasks import Summary, audit_stream, publish_stream, trust_config
from trustdata.pipeline.release import release
from trustdata.warehouse.engine import get_engine, warehouse_url


def release_quarantined(
    *,
    academy_id: str,
    stream: str,
    checks: list[str] | None = None,
    config_path: str | None = None,
) -> Summary:
    """Release, audit and publish the academy's waiting quarantined rows of ``stream``.

    Rows that still fail are quarantined again under the new batch, with their reason.
    """
    trust_config(config_path).academy(academy_id)  # an unknown academy is named before any write
    batch_id, rows = release(
        get_engine(warehouse_url()), academy_id=academy_id, stream=Stream(stream), checks=checks
    )
    summary: Summary = {"academy_id": academy_id, "stream": stream, "released": rows}
    if batch_id is None:
        return summary
    audited = audit_stream(batch_id=str(batch_id), config_path=config_path)
    published = publish_stream(batch_id=str(batch_id), config_path=config_path)
    return {
        **summary,
        "batch_id": str(batch_id),
        "quarantined_again": audited["rows_quarantined"],
        "rows_published": published["rows_published"],
    }
