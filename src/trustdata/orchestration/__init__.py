"""The one composition root the DAGs and the CLI call: primitives in, small JSON out."""

from trustdata.orchestration.failures import record_failure
from trustdata.orchestration.tasks import (
    audit_stream,
    build_warehouse,
    land_stream,
    prepare_warehouse,
    publish_stream,
    render_quality_docs,
)

__all__ = [
    "audit_stream",
    "build_warehouse",
    "land_stream",
    "prepare_warehouse",
    "publish_stream",
    "record_failure",
    "render_quality_docs",
]
