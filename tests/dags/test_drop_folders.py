"""A new export in a file academy's drop folder starts its run.

``new_exports`` against a real drop folder and warehouse; then the ``drop_folders`` DAG through
real Airflow (``airflow dags test``): its watch task updates the academy's drop asset (the
academy DAG's schedule) when a new file has landed, and is skipped when none has.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.adapters.test_csv_export import write_drop_folder
from tests.dags.airflow_run import WarmAirflow, airflow_env, metadata_url
from tests.helpers import one_academy_config, sync_stream
from trustdata import orchestration
from trustdata.adapters.csv_export import CsvExportAdapter
from trustdata.orchestration.drop_watch import drop_asset_uri, new_exports

ACADEMY = "hazel"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Path:
    monkeypatch.setenv("TD_NO_SECRET", "none")
    options = write_drop_folder(tmp_path / "drop")
    path = one_academy_config(
        tmp_path,
        academy_id=ACADEMY,
        urn="990960",
        kind="csv",
        options=options,
        credential_env="TD_NO_SECRET",
    )
    orchestration.prepare_warehouse(config_path=str(path))
    return path


def sync_all(config: Path) -> None:
    for stream in sorted(CsvExportAdapter.streams, key=lambda s: s != "pupils"):
        sync_stream(config, ACADEMY, stream.value)


def land_new_file(config: Path) -> None:
    report = config.parent / "drop" / "attendance_wk2.csv"
    report.write_text((config.parent / "drop" / "attendance_wk1.csv").read_text())
    stamp = datetime(2025, 9, 20, 18, tzinfo=UTC).timestamp()
    os.utime(report, (stamp, stamp))


def test_new_exports_counts_files_newer_than_the_last_publish(config: Path) -> None:
    assert new_exports(academy_id=ACADEMY, config_path=str(config))["new_files"] == 5
    sync_all(config)
    assert new_exports(academy_id=ACADEMY, config_path=str(config))["new_files"] == 0
    land_new_file(config)
    assert new_exports(academy_id=ACADEMY, config_path=str(config))["new_files"] == 1


def drop_events(warehouse_url: str) -> int:
    engine = create_engine(metadata_url(warehouse_url))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                        "WHERE a.uri = :uri"
                    ),
                    {"uri": drop_asset_uri(ACADEMY)},
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_watch_dag_updates_the_drop_asset_only_for_new_files(
    tmp_path: Path, config: Path, warehouse_url: str
) -> None:
    env = airflow_env(tmp_path, config, warehouse_url, TD_NO_SECRET="none")
    with WarmAirflow(env, tmp_path / "airflow-logs") as airflow:
        migrate = airflow("db", "migrate")
        assert migrate.returncode == 0, migrate.stdout[-2000:]
        # The file academy's DAG (scheduled on its drop asset or its cron) parses cleanly too.
        listed = airflow("dags", "list", "--output", "json", "--local")
        assert '"academy_hazel"' in listed.stdout and '"drop_folders"' in listed.stdout, (
            listed.stdout
        )
        before = drop_events(warehouse_url)
        sync_all(config)
        # Everything in the folder is published: the watch is skipped, no asset event.
        quiet = airflow("dags", "test", "drop_folders")
        assert quiet.returncode == 0, quiet.stdout[-3000:]
        assert drop_events(warehouse_url) == before
        land_new_file(config)
        busy = airflow("dags", "test", "drop_folders")
        assert busy.returncode == 0, busy.stdout[-3000:]
        assert drop_events(warehouse_url) == before + 1


def test_a_drop_folder_that_is_gone_is_a_clear_error(config: Path) -> None:
    import shutil

    from trustdata.adapters.base import AdapterError

    shutil.rmtree(config.parent / "drop")
    with pytest.raises(AdapterError, match=r"option 'folder': .* is not an existing folder"):
        new_exports(academy_id=ACADEMY, config_path=str(config))
