"""Alembic environment: run migrations on the connection handed over by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from trustdata.warehouse.partitions import LEAF
from trustdata.warehouse.tables import SCHEMAS, metadata

config = context.config


def _include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    """Let autogenerate see only the schemas the pipeline owns (dbt owns the rest).

    The partitions of raw.attendance_marks are the pipeline's to make, not described.
    """
    schema = getattr(obj, "schema", None)
    if type_ == "table" and schema == "raw" and name and LEAF.fullmatch(name):
        return False
    return type_ != "table" or schema in SCHEMAS


def run_migrations_online() -> None:
    """Run migrations on the caller's connection, in one transaction."""
    connection = config.attributes["connection"]
    for schema in SCHEMAS:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema="meta",
        include_schemas=True,
        include_object=_include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
