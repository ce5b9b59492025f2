"""Tables the pipeline owns, in the ``raw``, ``staging`` and ``meta`` schemas.

Alembic migrations create them (``trustdata.warehouse.migrations``); this module is the one
description of their shape that the pipeline's queries use. dbt owns everything it builds from
them (the ``analytics`` schemas).

Grain of each raw table is its primary key. ``staging`` holds landed batches that are not yet
published; a batch's rows leave staging when it is published or discarded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

metadata = MetaData()


def _audit_columns() -> list[Column[Any]]:
    """Columns every published raw row carries: which batch wrote it, and when."""
    return [
        Column("batch_id", Uuid, nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


# --- meta: the trust's structure (synced from the trust config) and the pipeline's own state ---

trust = Table(
    "trust",
    metadata,
    Column("trust_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    schema="meta",
)

hubs = Table(
    "hubs",
    metadata,
    Column("hub_id", Text, primary_key=True),
    Column("trust_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    schema="meta",
)

academies = Table(
    "academies",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("trust_id", Text, nullable=False),
    Column("hub_id", Text, nullable=False),
    Column("urn", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("adapter_kind", Text, nullable=False),
    schema="meta",
)

batches = Table(
    "batches",
    metadata,
    Column("batch_id", Uuid, primary_key=True),
    Column("academy_id", Text, nullable=False),
    Column("stream", Text, nullable=False),
    Column("run_id", Text),
    Column("source", Text),
    Column("status", Text, nullable=False),
    Column("updated_after", DateTime(timezone=True)),
    Column("watermark_before", DateTime(timezone=True)),
    Column("watermark_after", DateTime(timezone=True)),
    Column("cursor_before", Text),
    Column("cursor_after", Text),
    Column("backfill_from", Date),
    Column("backfill_to", Date),
    Column("rows_landed", Integer, nullable=False, server_default="0"),
    Column("rows_published", Integer, nullable=False, server_default="0"),
    Column("rows_quarantined", Integer, nullable=False, server_default="0"),
    Column("rows_inserted", Integer, nullable=False, server_default="0"),
    Column("rows_updated", Integer, nullable=False, server_default="0"),
    Column("rows_removed", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    schema="meta",
)

watermarks = Table(
    "watermarks",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("stream", Text, primary_key=True),
    Column("watermark", DateTime(timezone=True)),
    Column("cursor", Text),
    Column("source", Text),
    Column("batch_id", Uuid, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema="meta",
)

run_failures = Table(
    "run_failures",
    metadata,
    Column("failure_id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("try_number", Integer),
    Column("academy_id", Text),
    Column("stream", Text),
    Column("error_class", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("notified", Boolean, nullable=False, server_default="false"),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema="meta",
)

mis_events = Table(
    "mis_events",
    metadata,
    Column("outbox_id", Integer, primary_key=True, autoincrement=True),
    Column("academy_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Index("uq_mis_events_academy_event", "academy_id", "event_id", unique=True),
    Index(
        "ix_mis_events_due",
        "next_attempt_at",
        postgresql_where=text("delivered_at IS NULL"),
    ),
    schema="meta",
)
"""The outbox of MIS events: stored when the API receives them, then relayed to Airflow."""

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("reconciliation_id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Uuid, nullable=False),
    Column("academy_id", Text, nullable=False),
    Column("stream", Text, nullable=False),
    Column("mis_rows", Integer, nullable=False),
    Column("stored_rows", Integer, nullable=False),
    Column("missing_in_mis", Integer, nullable=False),
    Column("missing_in_warehouse", Integer, nullable=False),
    Column("restored", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False),
    Column("message", Text),
    Column("reconciled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema="meta",
)
"""Each reconciliation: a full read's keys against the stored ones, and what was done."""

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("stream", Text, nullable=False),
    Column("check_name", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("record", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("released_at", DateTime(timezone=True)),
    Column("released_to", Uuid),
    schema="meta",
)

validations = Table(
    "validations",
    metadata,
    Column("batch_id", Uuid, primary_key=True),
    Column("academy_id", Text, nullable=False),
    Column("stream", Text, nullable=False),
    Column("suite", Text, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("checks_run", Integer, nullable=False),
    Column("checks_failed", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("result", JSON, nullable=False),
    Column("validated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_validations_academy_stream", "academy_id", "stream"),
    schema="meta",
)
"""Each batch's Great Expectations validation: the suite's result (counts only, no row values)."""

validation_checks = Table(
    "validation_checks",
    metadata,
    Column("batch_id", Uuid, primary_key=True),
    Column("check_name", Text, primary_key=True),
    Column("expectation_type", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("unexpected_count", BigInteger),
    Column("element_count", BigInteger),
    Column("reason", Text, nullable=False),
    schema="meta",
)
"""One row per check of each validation: its severity in force, outcome and failing count."""

api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("key_id", Text, nullable=False, unique=True),
    Column("key_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    schema="meta",
)
"""Clients of the read API: scopes, and the id and SHA-256 of their key (never the key)."""

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("client_id", Text, nullable=False, index=True),
    Column("token_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    schema="meta",
)
"""Short-lived tokens issued for a client's key (OAuth2 client credentials), stored hashed."""

api_access_log = Table(
    "api_access_log",
    metadata,
    Column("access_id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("client_id", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("academy_id", Text, nullable=False),
    Column("records", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Index("ix_api_access_log_client_at", "client_id", "at"),
    schema="meta",
)
"""Every pupil-level read through the API: who, what (path, query, academy, records), when."""

# --- staging: landed batches awaiting audit and publish (UNLOGGED for load speed) ---

pupils_landing = Table(
    "pupils_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_id", Text, nullable=False),
    Column("upn", Text),
    Column("date_of_birth", Date),
    Column("gender", Text),
    Column("nc_year", SmallInteger),
    Column("fsm_eligible", Boolean),
    Column("fsm6", Boolean),
    Column("in_care", Boolean),
    Column("previously_in_care", Boolean),
    Column("service_child", Boolean),
    Column("sen_status", Text),
    Column("eal", Boolean),
    Column("admission_date", Date),
    Column("leaving_date", Date),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

attendance_landing = Table(
    "attendance_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_mark_id", Text),
    Column("mis_pupil_id", Text, nullable=False),
    Column("mark_date", Date, nullable=False),
    Column("session", Text, nullable=False),
    Column("source_code", Text, nullable=False),
    Column("code", Text),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

deletions_landing = Table(
    "deletions_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("object_type", Text, nullable=False),
    Column("mis_id", Text, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

enrolments_landing = Table(
    "enrolments_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_pupil_id", Text, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("registration", Text),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

characteristics_landing = Table(
    "characteristics_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_pupil_id", Text, nullable=False),
    Column("characteristic", Text, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

assessments_landing = Table(
    "assessments_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_pupil_id", Text, nullable=False),
    Column("key_stage", Text, nullable=False),
    Column("assessment_year", SmallInteger, nullable=False),
    Column("subject", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("component", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

attendance_summaries_landing = Table(
    "attendance_summaries_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_pupil_id", Text, nullable=False),
    Column("academic_year_start", SmallInteger, nullable=False),
    Column("school_laestab", Text, nullable=False),
    Column("sessions_possible", Integer, nullable=False),
    Column("sessions_authorised", Integer, nullable=False),
    Column("sessions_attended", Integer, nullable=False),
    Column("sessions_unauthorised", Integer, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    schema="staging",
    prefixes=["UNLOGGED"],
)

whole_sets_landing = Table(
    "whole_sets_landing",
    metadata,
    Column("batch_id", Uuid, nullable=False, index=True),
    Column("academy_id", Text, nullable=False),
    Column("mis_pupil_id", Text, nullable=False),
    Column("set_key", Text, nullable=False),
    schema="staging",
    prefixes=["UNLOGGED"],
)

# --- raw: published source data, keyed by UPN (never an MIS id) ---

pupils = Table(
    "pupils",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("mis_id", Text, nullable=False),
    Column("date_of_birth", Date),
    Column("gender", Text),
    Column("nc_year", SmallInteger),
    Column("fsm_eligible", Boolean),
    Column("fsm6", Boolean),
    Column("in_care", Boolean),
    Column("previously_in_care", Boolean),
    Column("service_child", Boolean),
    Column("sen_status", Text),
    Column("eal", Boolean),
    Column("admission_date", Date),
    Column("leaving_date", Date),
    Column("source_updated_at", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
    *_audit_columns(),
    Index("ix_raw_pupils_academy_mis_id", "academy_id", "mis_id"),
    schema="raw",
)

attendance_marks = Table(
    "attendance_marks",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("mark_date", Date, primary_key=True),
    Column("session", Text, primary_key=True),
    Column("code", Text, nullable=False),
    Column("source_code", Text, nullable=False),
    Column("mis_mark_id", Text),
    Column("source_updated_at", DateTime(timezone=True)),
    *_audit_columns(),
    # The incremental attendance fact finds what changed by published_at and re-reads whole
    # (academy, date) partitions; without these it scans every mark on every run. The date
    # leads: within a partition (one academy) the academy is one value, which a sort that
    # builds the index would compare at every step (migration 0019).
    Index("ix_raw_attendance_marks_published_at", "published_at"),
    Index("ix_raw_attendance_marks_date_academy", "mark_date", "academy_id"),
    schema="raw",
    # One partition per academy and academic year (trustdata.warehouse.partitions).
    postgresql_partition_by="RANGE (academy_id, mark_date)",
)

attendance_marks_superseded = Table(
    "attendance_marks_superseded",
    metadata,
    Column("academy_id", Text, nullable=False),
    Column("upn", Text, nullable=False),
    Column("mark_date", Date, nullable=False),
    Column("session", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("source_code", Text, nullable=False),
    Column("mis_mark_id", Text),
    Column("source_updated_at", DateTime(timezone=True)),
    Column("batch_id", Uuid, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("superseded_by_batch_id", Uuid, nullable=False),
    Column("superseded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_raw_attendance_marks_superseded_at", "superseded_at"),
    schema="raw",
)

deletions = Table(
    "deletions",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("object_type", Text, primary_key=True),
    Column("mis_id", Text, primary_key=True),
    Column("deleted_at", DateTime(timezone=True)),
    *_audit_columns(),
    schema="raw",
)


def _withdrawn_column() -> Column[Any]:
    """Set when a later batch sent the pupil's set without this row (kept for audit)."""
    return Column("withdrawn_at", DateTime(timezone=True))


enrolments = Table(
    "enrolments",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("start_date", Date, primary_key=True),
    Column("end_date", Date),
    Column("registration", Text),
    Column("mis_id", Text, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    _withdrawn_column(),
    *_audit_columns(),
    schema="raw",
)

characteristic_periods = Table(
    "characteristic_periods",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("characteristic", Text, primary_key=True),
    Column("start_date", Date, primary_key=True),
    Column("end_date", Date),
    Column("mis_id", Text, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    _withdrawn_column(),
    *_audit_columns(),
    schema="raw",
)

assessment_results = Table(
    "assessment_results",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("key_stage", Text, primary_key=True),
    Column("assessment_year", SmallInteger, primary_key=True),
    Column("subject", Text, primary_key=True),
    Column("method", Text, primary_key=True),
    Column("component", Text, primary_key=True),
    Column("result", Text, nullable=False),
    Column("mis_id", Text, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    *_audit_columns(),
    schema="raw",
)

attendance_summaries = Table(
    "attendance_summaries",
    metadata,
    Column("academy_id", Text, primary_key=True),
    Column("upn", Text, primary_key=True),
    Column("academic_year_start", SmallInteger, primary_key=True),
    Column("school_laestab", Text, primary_key=True),
    Column("sessions_possible", Integer, nullable=False),
    Column("sessions_authorised", Integer, nullable=False),
    Column("sessions_attended", Integer, nullable=False),
    Column("sessions_unauthorised", Integer, nullable=False),
    Column("mis_id", Text, nullable=False),
    Column("source_updated_at", DateTime(timezone=True)),
    *_audit_columns(),
    schema="raw",
)

SCHEMAS = ("meta", "staging", "raw")
