"""Failed tasks: a clear record in ``meta.run_failures``, and an alert when one is configured.

The DAGs' failure callback calls ``record_failure`` with ids and the exception. Messages are
the pipeline's own (adapter, audit and publish errors carry counts, codes and ids, never pupil
data), cut to a bounded length. The alert is a JSON POST to ``TRUSTDATA_ALERT_WEBHOOK_URL``; an
alert that cannot be delivered is logged and leaves ``notified`` false, it never fails the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from trustdata.config.settings import get_settings
from trustdata.warehouse.engine import get_engine, warehouse_url
from trustdata.warehouse.tables import run_failures

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1000


def record_failure(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    error: BaseException | None,
    try_number: int | None = None,
    academy_id: str | None = None,
    stream: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Write the failure to ``meta.run_failures``, announce it if configured; return the record."""
    record: dict[str, Any] = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "try_number": try_number,
        "academy_id": academy_id,
        "stream": stream,
        "error_class": type(error).__name__ if error is not None else "unknown",
        "message": (str(error) if error is not None else "no exception given")[:MESSAGE_LIMIT],
    }
    url = get_settings().alert_webhook_url
    notified = bool(url) and _announce(url or "", record, transport)
    with get_engine(warehouse_url()).begin() as conn:
        conn.execute(run_failures.insert().values(**record, notified=notified))
    log.error("task %s.%s failed (%s); recorded", dag_id, task_id, record["error_class"])
    return {**record, "notified": notified}


def _announce(url: str, record: dict[str, Any], transport: httpx.BaseTransport | None) -> bool:
    body = {"event": "trustdata.task_failed", **record}
    try:
        with httpx.Client(timeout=10.0, transport=transport) as client:
            client.post(url, json=body).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("failure alert to the webhook not delivered: %s", type(exc).__name__)
        return False
    return True


def failure_callback(academy_id: str | None) -> Callable[[Mapping[str, Any]], None]:
    """An Airflow ``on_failure_callback`` recording the failed task of an academy's DAG.

    It reads the task instance and exception from the callback context; the stream is the
    task id's suffix (``land_attendance`` -> ``attendance``). A failure to record is logged, never
    raised, so it cannot hide the task's own failure.
    """

    def callback(context: Mapping[str, Any]) -> None:
        ti = context["ti"]
        task_id = str(ti.task_id)
        stream = task_id.split("_", 1)[1] if academy_id and "_" in task_id else None
        try:
            record_failure(
                dag_id=str(ti.dag_id),
                task_id=task_id,
                run_id=str(ti.run_id),
                try_number=ti.try_number,
                academy_id=academy_id,
                stream=stream,
                error=context.get("exception"),
            )
        except Exception:
            log.exception("could not record the failure of %s.%s", ti.dag_id, task_id)

    return callback
