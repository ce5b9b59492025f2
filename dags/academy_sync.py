"""One DAG per academy, generated from the trust config: extract -> land -> audit -> publish.

Wiring only: each task calls ``trustdata.orchestration`` with primitives and returns its small
JSON summary. Reading the trust config file is the only work done at import time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetAny, Param, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from dag_support import DEFAULT_ARGS, connection_secret, raw_asset
from trustdata import orchestration
from trustdata.adapters.base import Stream
from trustdata.adapters.registry import adapter_class
from trustdata.config.settings import get_settings
from trustdata.config.trust import Academy, load_trust_config
from trustdata.orchestration.assets import (
    event_asset_name,
    event_asset_uri,
)
from trustdata.orchestration.drop_watch import drop_asset_name, drop_asset_uri, watches_files
from trustdata.orchestration.failures import failure_callback
from trustdata.pipeline.land import LandingSuperseded

#: Streams in the order a sync runs them; an academy's DAG has those its adapter serves.
STREAMS = tuple(s.value for s in Stream)


def _doc(academy: Academy) -> str:
    return (
        f"### {academy.name}\n\nURN {academy.urn}, {academy.phase.value}, hub `{academy.hub}`, "
        f"MIS adapter `{academy.adapter.kind}`.\n\nFor each stream: **land** pulls what changed "
        f"since the published watermark (attendance re-reads the last {academy.lookback_days} "
        "days, since registers are corrected after the fact) and COPYs it into staging; "
        "**audit** validates the batch with its Great Expectations suite and quarantines "
        "failing rows with reasons; **publish** moves it into `raw` and advances the watermark "
        "in one transaction. A blocked batch fails its audit task: see `meta.batches.message` "
        "and `meta.quarantine`. **quality_docs** then renders the academy's Data Docs under "
        f"`data_docs/{academy.id}/` in the data folder.\n\n"
        "**Backfill:** trigger with the param `academic_year` (e.g. `2024-25`) to re-read that "
        "year in full; its batches do not move the incremental watermarks."
        + (
            "\n\n**Events:** the MIS's signed events, received by the read API and relayed "
            f"from its outbox, update `{event_asset_uri(academy.id)}`, which starts a run."
            if academy.webhook_secret_env
            else ""
        )
    )


def drop_asset(academy_id: str) -> Asset:
    """The asset the drop-folder watch updates when a new export lands."""
    return Asset(name=drop_asset_name(academy_id), uri=drop_asset_uri(academy_id))


def event_asset(academy_id: str) -> Asset:
    """The asset the MIS event relay updates when the academy's MIS reports a change."""
    return Asset(name=event_asset_name(academy_id), uri=event_asset_uri(academy_id))


def _schedule(academy: Academy) -> Any:
    """The academy's schedule; it also runs on MIS events and on new exports, where it has them."""
    triggers = [event_asset(academy.id)] if academy.webhook_secret_env else []
    if watches_files(academy):
        triggers.append(drop_asset(academy.id))
    if not triggers:
        return academy.schedule
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(academy.schedule, timezone="Europe/London"),
        assets=AssetAny(*triggers),
    )


def build_academy_dag(academy: Academy) -> DAG:
    """Build the sync DAG of one academy."""
    with DAG(
        dag_id=f"academy_{academy.id}",
        schedule=_schedule(academy),
        start_date=datetime(2025, 9, 1),
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "on_failure_callback": failure_callback(academy.id)},
        tags=["trustdata", "academy", f"hub:{academy.hub}", f"mis:{academy.adapter.kind}"],
        doc_md=_doc(academy),
        params={
            "academic_year": Param(
                None,
                type=["null", "string"],
                pattern=r"^\d{4}-\d{2}$",
                description=(
                    "Backfill: re-read this academic year (YYYY-YY, e.g. 2024-25) in full, "
                    "without moving the incremental watermarks. Empty: a normal sync."
                ),
            )
        },
    ) as dag:

        @task
        def prepare() -> dict[str, Any]:
            return orchestration.prepare_warehouse()

        @task(trigger_rule=TriggerRule.ALL_DONE)
        def quality_docs() -> dict[str, Any]:
            """Render this academy's Data Docs, blocked batches included."""
            return orchestration.render_quality_docs(academy_id=academy.id)

        ready = prepare()
        docs = quality_docs()
        published: dict[str, Any] = {}
        served = adapter_class(academy.adapter.kind).streams
        for stream in (s for s in STREAMS if Stream(s) in served):

            @task(task_id=f"land_{stream}")
            def land(stream: str = stream) -> dict[str, Any]:
                context = get_current_context()
                logical = context.get("logical_date")
                try:
                    return orchestration.land_stream(
                        academy_id=academy.id,
                        stream=stream,
                        run_id=context["run_id"],
                        as_at=logical.date().isoformat() if logical else None,
                        academic_year=context["params"].get("academic_year") or None,
                        connection_lookup=connection_secret,
                    )
                except LandingSuperseded as exc:
                    # No retry: it would land again and discard the newer landing in turn.
                    raise AirflowFailException(str(exc)) from exc

            @task(task_id=f"audit_{stream}")
            def audit(landed: dict[str, Any]) -> dict[str, Any]:
                return orchestration.audit_stream(batch_id=landed["batch_id"])

            @task(task_id=f"publish_{stream}", outlets=[raw_asset(academy.id, stream)])
            def publish(audited: dict[str, Any]) -> dict[str, Any]:
                return orchestration.publish_stream(batch_id=audited["batch_id"])

            landed = land()
            ready >> landed
            audited = audit(landed)
            audited >> docs
            published[stream] = publish(audited)
            if stream not in ("pupils", "deletions"):
                # Rows are keyed to pupils by UPN: read them after the roll is published, so a
                # pupil who joined while the roll was read is on it, not quarantined as unknown.
                published["pupils"] >> landed
    return dag


for _academy in load_trust_config(get_settings().trust_config).academies:
    globals()[f"academy_{_academy.id}"] = build_academy_dag(_academy)
