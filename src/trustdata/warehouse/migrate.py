"""Apply the warehouse migrations (Alembic) to a database: ``upgrade(url)``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

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
        current = MigrationContext.configure(connection).get_current_revision()
        target = ScriptDirectory.from_config(config).as_revision_number(revision)
        if current != target:
            # A validation's view over a staging table (trustdata.quality.validate) left by a
            # killed process would stop a migration from altering that table.
            drop_validation_views(connection)
        command.upgrade(config, revision)


def drop_validation_views(connection: Connection, batch_hex: str | None = None) -> None:
    """Drop the views validations read batches through: all, or those of one batch."""
    pattern = f"gx_batch_{batch_hex or ''}%"
    views = connection.execute(
        text("SELECT viewname FROM pg_views WHERE schemaname = 'staging' AND viewname LIKE :p"),
        {"p": pattern},
    ).scalars()
    for view in list(views):
        connection.execute(text(f'DROP VIEW IF EXISTS staging."{view}"'))
