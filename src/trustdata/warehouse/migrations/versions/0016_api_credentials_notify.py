"""Notify the read API when a client or token changes, so it can cache authentication.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27

A change to rows of meta.api_clients or meta.api_tokens (a key rotated, a client revoked,
tokens cleared or truncated), by the CLI or by hand, sends a notification on
the ``trustdata_api_credentials`` channel when it commits; each API process empties its cache
of authenticated credentials on it (ingest_api.core.authcache).
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CHANNEL = "trustdata_api_credentials"


def upgrade() -> None:
    """Apply this revision."""
    op.execute(
        f"""
        CREATE FUNCTION meta.notify_api_credentials() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in ("api_clients", "api_tokens"):
        # Per row, so that a statement that changes nothing (the token endpoint's clearing of
        # expired tokens, most times) notifies nothing; PostgreSQL sends one notification per
        # transaction however many rows change, as the payloads are the same.
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE ON meta.{table} "
            "FOR EACH ROW EXECUTE FUNCTION meta.notify_api_credentials()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON meta.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION meta.notify_api_credentials()"
        )


def downgrade() -> None:
    """Revert this revision."""
    for table in ("api_clients", "api_tokens"):
        op.execute(f"DROP TRIGGER {table}_truncated ON meta.{table}")
        op.execute(f"DROP TRIGGER {table}_changed ON meta.{table}")
    op.execute("DROP FUNCTION meta.notify_api_credentials()")
