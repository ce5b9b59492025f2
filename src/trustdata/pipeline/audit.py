"""Audit: validate a landed batch in staging with its Great Expectations suite before publish.

Write, audit, publish: the stream's suite (``expectations/<table>.json``) runs with GX against
the batch's rows in PostgreSQL. Each check has a severity, from the suite or the academy's
``quality.severity``: ``error`` blocks the batch (nothing publishes, the watermark stays),
``warn`` quarantines the failing rows and lets the rest publish. Failing rows of a row-level
check are copied to ``meta.quarantine`` with the check and its reason before they leave
staging, so nothing is dropped; a batch-level check (size, a day's completeness) has no rows
of its own to move. The suite's result is stored in ``meta.validations`` and each check's in
``meta.validation_checks``. Messages carry counts and codes, never pupil data.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, delete, text

from trustdata.adapters.base import Stream
from trustdata.pipeline.batches import Batch, BatchStatus, get_batch, set_status
from trustdata.pipeline.land import staged_table
from trustdata.quality.suites import Check, suites
from trustdata.quality.validate import (
    Outcome,
    Validation,
    applicable,
    parameters,
    validate,
)
from trustdata.warehouse.sql import sql_literal
from trustdata.warehouse.tables import validation_checks, validations

if TYPE_CHECKING:
    from trustdata.config.trust import Academy

log = logging.getLogger(__name__)

_JOIN = re.compile(r"\bJOIN\b", re.IGNORECASE)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class AuditResult:
    """The outcome of auditing one batch."""

    batch_id: uuid.UUID
    status: str
    quarantined: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        """True when an error-severity check failed and the batch must not publish."""
        return self.status == BatchStatus.BLOCKED


def _column(table: Table, name: str) -> str:
    if not _NAME.match(name) or name not in table.c:
        raise ValueError(f"the suite names a column {name!r} that {table.name} does not have")
    return name


def failing_rows_sql(check: Check, kwargs: dict[str, Any], table: Table) -> str:
    """SQL selecting ``row_ctid`` of the batch's rows that fail a row-level check.

    It restates the expectation over ``(SELECT ctid AS row_ctid, * ... WHERE batch_id =
    :batch_id)``: a custom (SQL) expectation's own query, or the built-in's condition, with
    GX's semantics (a missing value is not unexpected).
    """
    from trustdata.quality.expectations import CUSTOM

    qualified = f"{table.schema}.{table.name}"
    staged = f"SELECT ctid AS row_ctid, * FROM {qualified} WHERE batch_id = :batch_id"
    if check.type in CUSTOM:
        query = CUSTOM[check.type](**kwargs).unexpected_rows_query
        batch = f"({staged})" if _JOIN.search(query) else f"({staged}) AS subselect"
        return f"SELECT row_ctid FROM ({query.format(batch=batch)}) AS failing"
    if check.type == "expect_column_values_to_be_in_set":
        col = _column(table, kwargs["column"])
        values = ", ".join(sql_literal(str(v)) for v in kwargs["value_set"])
        condition = f"{col} IS NOT NULL AND {col} NOT IN ({values})"
    elif check.type == "expect_column_values_to_be_between":
        col = _column(table, kwargs["column"])
        bounds = []
        if kwargs.get("min_value") is not None:
            bounds.append(f"{col} < CAST(:min_value AS {table.c[col].type.compile()})")
        if kwargs.get("max_value") is not None:
            bounds.append(f"{col} > CAST(:max_value AS {table.c[col].type.compile()})")
        condition = f"{col} IS NOT NULL AND ({' OR '.join(bounds) or 'false'})"
    elif check.type in (
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
    ):
        cols = [_column(table, c) for c in kwargs.get("column_list") or [kwargs["column"]]]
        listed = ", ".join(cols)
        condition = (
            f"({listed}) IN (SELECT {listed} FROM {qualified} WHERE batch_id = :batch_id "
            f"AND {' AND '.join(f'{c} IS NOT NULL' for c in cols)} "
            f"GROUP BY {listed} HAVING count(*) > 1)"
        )
    elif check.type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _column(table, kwargs["column_A"]), _column(table, kwargs["column_B"])
        op = ">=" if kwargs.get("or_equal") else ">"
        condition = f"{a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b})"
    else:
        raise ValueError(
            f"check {check.name}: rows failing {check.type} cannot be selected for quarantine; "
            "mark it level 'batch' in the suite, or use a supported expectation"
        )
    return f"SELECT row_ctid FROM ({staged}) AS staged WHERE {condition}"


def _quarantine(
    conn: Connection,
    batch: Batch,
    outcome: Outcome,
    kwargs: dict[str, Any],
) -> int:
    """Copy the rows failing a row-level check to meta.quarantine (warn: and out of staging)."""
    table = staged_table(Stream(batch.stream), batch.batch_id)
    failing = failing_rows_sql(outcome.check, kwargs, table)
    qualified = f"{table.schema}.{table.name}"
    columns = "batch_id, academy_id, stream, check_name, severity, reason, record"
    values = ":stream, :check, :severity, :reason"
    if outcome.severity == "warn":
        statement = (
            f"WITH moved AS (DELETE FROM {qualified} AS t WHERE t.batch_id = :batch_id "
            f"AND t.ctid IN ({failing}) RETURNING t.*) "
            f"INSERT INTO meta.quarantine ({columns}) "
            f"SELECT moved.batch_id, moved.academy_id, {values}, to_jsonb(moved) FROM moved"
        )
    else:
        statement = (
            f"INSERT INTO meta.quarantine ({columns}) "
            f"SELECT t.batch_id, t.academy_id, {values}, to_jsonb(t) FROM {qualified} AS t "
            f"WHERE t.batch_id = :batch_id AND t.ctid IN ({failing})"
        )
    bound = {
        "batch_id": batch.batch_id,
        "stream": batch.stream,
        "check": outcome.check.name,
        "severity": outcome.severity,
        "reason": outcome.check.reason,
        **{k: v for k, v in kwargs.items() if k in ("min_value", "max_value")},
    }
    return int(conn.execute(text(statement), bound).rowcount or 0)


def _unmapped_codes(conn: Connection, batch_id: uuid.UUID) -> str:
    """The MIS codes of marks held by code_valid_on_date, with counts (codes, never pupils)."""
    rows = conn.execute(
        text(
            "SELECT record::jsonb ->> 'source_code', count(*) FROM meta.quarantine "
            "WHERE batch_id = :batch_id AND check_name = 'code_valid_on_date' "
            "GROUP BY 1 ORDER BY 1"
        ),
        {"batch_id": batch_id},
    ).all()
    return ", ".join(f"{code!r} x {count}" for code, count in rows)


def _judge(
    conn: Connection,
    batch: Batch,
    validation: Validation,
    kwargs_of: dict[str, dict[str, Any]],
    result: AuditResult,
) -> None:
    noun = "marks" if batch.stream == Stream.ATTENDANCE.value else f"{batch.stream} rows"
    for outcome in validation.failed:
        check = outcome.check
        moved = 0
        if check.level == "row":
            moved = _quarantine(conn, batch, outcome, kwargs_of[check.name])
            result.quarantined += moved
        if outcome.severity == "error":
            result.status = BatchStatus.BLOCKED
            if check.name == "code_valid_on_date":
                result.problems.append(
                    "error: attendance codes not valid on their marks' dates: "
                    f"{_unmapped_codes(conn, batch.batch_id)} (map MIS sub-codes in the "
                    "academy's code_map, or correct the register)"
                )
            elif check.level == "row":
                result.problems.append(f"error: {moved} {noun} {check.name}: {check.reason}")
            else:
                result.problems.append(f"error: {check.name}: {check.reason}")
        elif check.level == "row":
            if moved:
                result.problems.append(f"warn: {moved} {noun} quarantined: {check.reason}")
        else:
            count = f"{outcome.unexpected} " if outcome.unexpected is not None else ""
            result.problems.append(f"warn: {count}{check.name}: {check.reason}")


def _store(conn: Connection, batch: Batch, validation: Validation) -> None:
    conn.execute(delete(validation_checks).where(validation_checks.c.batch_id == batch.batch_id))
    conn.execute(delete(validations).where(validations.c.batch_id == batch.batch_id))
    conn.execute(
        validations.insert().values(
            batch_id=batch.batch_id,
            academy_id=batch.academy_id,
            stream=batch.stream,
            suite=validation.suite,
            success=validation.success,
            checks_run=len(validation.outcomes),
            checks_failed=len(validation.failed),
            seconds=validation.seconds,
            result=validation.result,
        )
    )
    if validation.outcomes:
        conn.execute(
            validation_checks.insert(),
            [
                {
                    "batch_id": batch.batch_id,
                    "check_name": o.check.name,
                    "expectation_type": o.check.type,
                    "severity": o.severity,
                    "level": o.check.level,
                    "success": o.success,
                    "unexpected_count": o.unexpected,
                    "element_count": o.elements,
                    "reason": o.check.reason,
                }
                for o in validation.outcomes
            ],
        )


def _auditable(conn: Connection, batch_id: uuid.UUID, *, lock: bool = False) -> Batch:
    batch = get_batch(conn, batch_id, lock=lock)
    if batch.status not in (BatchStatus.LANDED, BatchStatus.AUDITED):
        raise ValueError(f"batch {batch_id} is {batch.status}; only a landed batch is audited")
    return batch


def audit(
    *,
    engine: Engine,
    batch_id: uuid.UUID,
    academy: Academy | None = None,
    today: date | None = None,
) -> AuditResult:
    """Validate a landed batch with its suite, quarantine failing rows, record the outcome.

    ``academy`` supplies the academy's quality rules and phase (without it the defaults apply
    and the date-of-birth check, which needs the phase, is left out); ``today`` is the date
    "in the future" is judged against.
    """
    with engine.connect() as conn:
        batch = _auditable(conn, batch_id)
        suite = suites()[Stream(batch.stream)]
        values = parameters(conn, batch, academy, today)
    severities = dict(academy.quality.severity) if academy is not None else {}
    chosen, skipped = applicable(suite, batch, values, severities)
    validation = validate(engine, suite, batch, chosen, skipped)
    kwargs_of = {check.name: kwargs for check, _, kwargs in chosen}
    with engine.begin() as conn:
        batch = _auditable(conn, batch_id, lock=True)
        result = AuditResult(batch_id, BatchStatus.AUDITED)
        _judge(conn, batch, validation, kwargs_of, result)
        _store(conn, batch, validation)
        set_status(
            conn,
            batch_id,
            result.status,
            rows_quarantined=result.quarantined,
            message="; ".join(result.problems) or None,
        )
    log.info(
        "audited batch %s: %s, %d/%d checks failed, %d rows quarantined, %.2f s",
        batch_id,
        result.status,
        len(validation.failed),
        len(validation.outcomes),
        result.quarantined,
        validation.seconds,
    )
    return result
