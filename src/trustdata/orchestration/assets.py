"""Names of the data assets the pipeline publishes, shared by the DAGs that produce and use them."""

from __future__ import annotations


def raw_asset_name(academy_id: str, stream: str) -> str:
    """The asset name of one academy's published stream."""
    return f"raw_{stream}_{academy_id}"


def raw_asset_uri(academy_id: str, stream: str) -> str:
    """The asset URI of one academy's published stream."""
    return f"trustdata://raw/{stream}/{academy_id}"


def event_asset_name(academy_id: str) -> str:
    """The asset name MIS events for one academy update (its DAG runs on it)."""
    return f"mis_events_{academy_id}"


def event_asset_uri(academy_id: str) -> str:
    """The asset URI MIS events for one academy update (its DAG runs on it)."""
    return f"trustdata://events/{academy_id}"
