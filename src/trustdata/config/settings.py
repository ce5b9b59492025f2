"""Process settings, read from ``TRUSTDATA_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root when running from a checkout (src/trustdata/config/settings.py -> root).
PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    """Where the warehouse, the trust config and local state live.

    Every field can be set with an environment variable named ``TRUSTDATA_`` + the field name in
    capitals, e.g. ``TRUSTDATA_WAREHOUSE_URL``.
    """

    model_config = SettingsConfigDict(env_prefix="TRUSTDATA_", env_file=".env", extra="ignore")

    warehouse_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the PostgreSQL warehouse, e.g. "
            "postgresql+psycopg://user@db.example:5432/trustdata. Unset: an embedded PostgreSQL "
            "starts under data_dir."
        ),
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / ".data",
        description="Local state: the embedded PostgreSQL, Airflow's home, dbt's target folder.",
    )
    trust_config: Path = Field(
        default=PROJECT_ROOT / "infra" / "trust.yaml",
        description="The trust configuration file (trust, hubs, academies).",
    )
    warehouse_database: str = Field(
        default="trustdata", description="Database name inside the embedded PostgreSQL."
    )
    alert_webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description=(
            "Where a failed task is announced: a JSON POST with the DAG, task, run, academy, "
            "stream and error (ids and the pipeline's own messages, never pupil data). Unset: "
            "failures are recorded in meta.run_failures only."
        ),
    )
    airflow_api_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description=(
            "Airflow's API server (e.g. http://localhost:8080), where MIS events from the outbox "
            "are relayed as asset events. Unset: events are stored and wait for a relay."
        ),
    )
    airflow_username: str | None = Field(
        default=None, description="The Airflow user the event relay logs in as."
    )
    airflow_password: SecretStr | None = Field(default=None, description="That user's password.")
    relay_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the event relay looks for due events."
    )
    relay_max_backoff_seconds: float = Field(
        default=900.0,
        gt=0,
        description=(
            "The longest wait between attempts to deliver an event Airflow did not take (the "
            "wait starts at 5 s and doubles per failure)."
        ),
    )
    api_rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description=(
            "Requests a read API client may make per minute (a burst of that many, refilled "
            "evenly), per API process; 0 turns the limit off."
        ),
    )
    api_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "How long each API process reuses an aggregate it read from the marts (they change "
            "only when the warehouse build runs); 0 reads the warehouse every time."
        ),
    )


@cache
def get_settings() -> Settings:
    """Return the settings of this process (read once)."""
    return Settings()
