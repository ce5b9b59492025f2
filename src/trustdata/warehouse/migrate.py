"""Apply the warehouse migrations (Alembic) to a database: ``upgrade(url)``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from trustdata.warehouse.engine import get_engine

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Return an Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the raw/staging/meta schemas of the database at ``url`` up to ``revision``."""
    config = alembic_config()
    with get_engine(url).begin() as connection:
        # Serialise concurrent migrators (two DAG runs starting at once) on one advisory lock.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7316001)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
