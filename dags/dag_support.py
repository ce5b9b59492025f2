"""What the DAG files share: default task arguments, assets and the Airflow secret lookup.

No DAG is defined here; the DAG files import it from the DAG folder (on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, Connection

from trustdata.orchestration.assets import raw_asset_name, raw_asset_uri

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-team",
    # The quick start's demo sets 0 so a broken run fails in seconds, not after retries.
    "retries": int(os.environ.get("TRUSTDATA_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}


def raw_asset(academy_id: str, stream: str) -> Asset:
    """The asset a publish task updates: one academy's published stream."""
    return Asset(name=raw_asset_name(academy_id, stream), uri=raw_asset_uri(academy_id, stream))


def connection_secret(conn_id: str) -> str:
    """The password of an Airflow connection: an academy's MIS credential kept in Airflow."""
    return str(Connection.get(conn_id).password or "")
