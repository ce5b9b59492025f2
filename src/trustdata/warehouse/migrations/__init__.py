"""Alembic migrations for the raw, staging and meta schemas."""
