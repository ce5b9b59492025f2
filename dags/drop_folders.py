"""Drop-folder watch: a new CSV report or CTF in a file academy's folder starts its run.

Every five minutes, one task per academy whose adapter reads a drop folder counts the files
newer than what the academy last published. With none, the task is skipped; with some, it
succeeds and updates the academy's drop asset, on which the academy's DAG is scheduled. Only
counts reach XComs and logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowSkipException

from trustdata.config.settings import get_settings
from trustdata.config.trust import load_trust_config
from trustdata.orchestration.drop_watch import (
    drop_asset_name,
    drop_asset_uri,
    new_exports,
    watches_files,
)
from trustdata.orchestration.failures import failure_callback

_watched = [a for a in load_trust_config(get_settings().trust_config).academies if watches_files(a)]

if _watched:
    with DAG(
        dag_id="drop_folders",
        schedule="*/5 * * * *",
        start_date=datetime(2025, 9, 1),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "data-team",
            "retries": 1,
            "retry_delay": timedelta(minutes=1),
            "on_failure_callback": failure_callback(None),
        },
        tags=["trustdata", "drop-folders"],
        doc_md=(
            "### Drop-folder watch\n\nFor each academy that exports files (CSV reports, CTFs), "
            "checks its drop folder for files newer than its last published data. A task that "
            "finds some succeeds and updates the academy's `drop_<academy>` asset, which starts "
            "the academy's DAG; one that finds none is skipped."
        ),
    ) as drop_folders:
        for _academy in _watched:
            drop = Asset(name=drop_asset_name(_academy.id), uri=drop_asset_uri(_academy.id))

            @task(task_id=f"watch_{_academy.id}", outlets=[drop])
            def watch(academy_id: str = _academy.id) -> dict[str, Any]:
                """Succeed (updating the drop asset) only when a new export has landed."""
                found = new_exports(academy_id=academy_id)
                if not found["new_files"]:
                    raise AirflowSkipException("no new export since the last publish")
                return found

            watch()
