"""Warehouse build: dbt over the published raw data, when an academy publishes.

Scheduled on every stream each academy publishes (data-aware assets), with a nightly
time-based fallback so the marts are rebuilt even on a day no feed published.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.sdk.definitions.asset import AssetAny
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from trustdata import orchestration
from trustdata.adapters.registry import adapter_class
from trustdata.config.settings import get_settings
from trustdata.config.trust import load_trust_config
from trustdata.orchestration.assets import raw_asset_name, raw_asset_uri
from trustdata.orchestration.failures import failure_callback

_academies = load_trust_config(get_settings().trust_config).academies

with DAG(
    dag_id="warehouse_build",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 5 * * *", timezone="Europe/London"),
        assets=AssetAny(
            *(
                Asset(name=raw_asset_name(a.id, s), uri=raw_asset_uri(a.id, s))
                for a in _academies
                for s in sorted(adapter_class(a.adapter.kind).streams)
            )
        ),
    ),
    start_date=datetime(2025, 9, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-team",
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": failure_callback(None),
    },
    tags=["trustdata", "warehouse", "dbt"],
    doc_md=(
        "### Warehouse build\n\nSyncs the trust's structure into `meta`, then runs `dbt build` "
        "over `transforms/`: staging views, the intermediate models and the marts the read API "
        "serves, with their tests. Runs when any academy publishes, and nightly at 05:30."
    ),
) as dag:

    @task
    def prepare() -> dict[str, Any]:
        """Migrate the pipeline's schemas and write the trust structure into meta."""
        return orchestration.prepare_warehouse()

    @task
    def dbt_build(_: dict[str, Any]) -> dict[str, Any]:
        """Run dbt build: staging, intermediate and marts, with their tests."""
        return orchestration.build_warehouse()

    dbt_build(prepare())
