"""Reconciliation: each academy's full reads compared with the warehouse, on a schedule.

One task per academy whose adapter reads completely (the REST MIS adapters): it reads the whole
roll and the academic year's marks, removes what the MIS no longer holds (kept for audit), and
fails, alerting, instead of removing more than the academy's ``max_removal_share``. Wiring only:
the work is ``trustdata.orchestration.reconciliation``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, get_current_context, task

from dag_support import DEFAULT_ARGS, connection_secret, raw_asset
from trustdata.adapters.base import Stream
from trustdata.adapters.registry import adapter_class
from trustdata.config.settings import get_settings
from trustdata.config.trust import load_trust_config
from trustdata.orchestration.failures import failure_callback
from trustdata.orchestration.reconciliation import reconcile_academy
from trustdata.pipeline.reconcile import RECONCILED

_trust = load_trust_config(get_settings().trust_config)
_reconciled = [
    a for a in _trust.academies if set(RECONCILED) & adapter_class(a.adapter.kind).complete_reads
]

DOC = (
    "### Reconciliation\n\nFor each academy read through a REST MIS: a full read of the "
    "roll and of the academic year's marks, compared with the warehouse. Pupils and marks "
    "the MIS no longer holds are removed (pupils get a deletion, marks move to "
    "`raw.attendance_marks_superseded`); pupils an earlier reconciliation removed come "
    "back when the MIS has them again. A task that would remove more than the academy's "
    "`max_removal_share` removes nothing and fails: see `meta.reconciliations` and "
    "`meta.batches.message`. File academies are not reconciled (an export holds what it "
    "was saved with)."
)


def _reconcile_task(academy_id: str) -> None:
    @task(
        task_id=f"reconcile_{academy_id}",
        outlets=[raw_asset(academy_id, s.value) for s in (Stream.PUPILS, Stream.ATTENDANCE)],
        on_failure_callback=failure_callback(academy_id),
    )
    def reconcile() -> dict[str, Any]:
        """Read the academy's roll and year of marks in full and reconcile them."""
        context = get_current_context()
        logical = context.get("logical_date")
        return reconcile_academy(
            academy_id=academy_id,
            run_id=context["run_id"],
            as_at=logical.date().isoformat() if logical else None,
            connection_lookup=connection_secret,
        )

    reconcile()


if _reconciled:
    with DAG(
        dag_id="reconcile",
        schedule=_trust.reconcile_schedule,
        start_date=datetime(2025, 9, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["trustdata", "reconcile"],
        doc_md=DOC,
    ) as dag:
        for _academy in _reconciled:
            _reconcile_task(_academy.id)
