"""Run a stream's suite with Great Expectations against one landed batch, in PostgreSQL.

The batch is a GX query asset over its staging table (``WHERE batch_id = ...``), so GX's
SQL execution engine computes every metric in the database; no rows are pulled into memory
beyond the few a failing custom query samples. Results keep counts only: GX's lists of
unexpected values (which would hold UPNs and other pupil data) are asked for at length 0 and
stripped before anything is stored.

GX is imported on first use (it takes seconds), never at DAG-parse time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, text

from trustdata.adapters.base import Stream
from trustdata.heap import freeze_long_lived
from trustdata.pipeline.batches import Batch, BatchStatus
from trustdata.pipeline.land import staged_table
from trustdata.quality.suites import Check, Severity, Suite
from trustdata.warehouse.migrate import drop_validation_views
from trustdata.warehouse.tables import batches

if TYPE_CHECKING:
    from trustdata.config.trust import Academy

log = logging.getLogger(__name__)

#: Result keys that may hold row values; GX is asked for none, and any left are removed.
_ROW_VALUE_KEYS = frozenset(
    {
        "partial_unexpected_list",
        "partial_unexpected_counts",
        "partial_unexpected_index_list",
        "unexpected_list",
        "unexpected_index_list",
        "unexpected_index_query",
        "unexpected_rows",
        "details",
    }
)
#: Settings of the validation's database sessions. Duplicate and completeness checks group a
#: whole batch (1M marks) by key: with more work_mem the grouping stays in memory, and without
#: parallel workers it is built once rather than once per worker (measured: 2.2 s -> 1.2 s for
#: the duplicate check on 1M marks, bench/bench_validation.py).
SESSION_OPTIONS = "-c work_mem=128MB -c max_parallel_workers_per_gather=0"
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}

#: Ages on 31 August a phase teaches, widened by a year each way (nursery to sixth form).
PHASE_AGES = {"primary": (2, 12), "secondary": (10, 19), "all-through": (2, 19)}


class QualityCheckError(RuntimeError):
    """A check could not run (a broken suite or query): the batch is not judged on it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One check's result on a batch."""

    check: Check
    severity: Severity
    success: bool
    unexpected: int | None
    elements: int | None


@dataclass
class Validation:
    """A suite's run on one batch: each check's outcome and GX's (row-free) result."""

    suite: str
    outcomes: list[Outcome]
    result: dict[str, Any]
    seconds: float
    skipped: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when every check passed."""
        return all(outcome.success for outcome in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        """The checks that failed, in suite order."""
        return [outcome for outcome in self.outcomes if not outcome.success]


def academic_year_start(day: date) -> date:
    """1 September of the academic year ``day`` falls in."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _previous_full_rows(conn: Connection, batch: Batch) -> int | None:
    """Rows landed by the last published full extract comparable with ``batch``."""
    c = batches.c
    query = (
        select(c.rows_landed)
        .where(
            c.academy_id == batch.academy_id,
            c.stream == batch.stream,
            c.status == BatchStatus.PUBLISHED,
            c.batch_id != batch.batch_id,
            c.updated_after.is_(None),
            c.cursor_before.is_(None),
            c.source.is_not_distinct_from(batch.source),
            c.backfill_from.is_not_distinct_from(batch.backfill_from),
            c.backfill_to.is_not_distinct_from(batch.backfill_to),
        )
        .order_by(c.started_at.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def parameters(
    conn: Connection, batch: Batch, academy: Academy | None, today: date | None = None
) -> dict[str, Any]:
    """The values a suite's ``$PARAMETER`` kwargs take for this batch and academy.

    None means "not applicable to this batch", and the check is left out.
    """
    from trustdata.config.trust import QualityRules

    today = today or date.today()
    rules = academy.quality if academy is not None else QualityRules()
    # The academic year a batch reads: a backfill's, or that of an incremental read's window
    # start. A first read, or a release of quarantined rows, has none of its own.
    year: tuple[date, date] | None = None
    if batch.backfill_from is not None:
        year = (batch.backfill_from, batch.backfill_to or today)
    elif batch.updated_after is not None and batch.source != "quarantine":
        start = academic_year_start(min(batch.updated_after.date(), today))
        year = (start, date(start.year + 1, 8, 31))
    born_after = born_before = None
    if academy is not None:
        youngest, oldest = PHASE_AGES[academy.phase.value]
        census = date(academic_year_start(today).year - 1, 8, 31)
        born_before = _years_before(census, youngest).isoformat()
        born_after = (_years_before(census, oldest + 1) + timedelta(days=1)).isoformat()
    previous = _previous_full_rows(conn, batch) if batch.is_full else None
    return {
        "academy_id": batch.academy_id,
        "incremental": not batch.is_full,
        "today": today.isoformat(),
        "year_start": year[0].isoformat() if year else None,
        "year_end": year[1].isoformat() if year else None,
        "closed_dates": [day.isoformat() for day in rules.closed_dates],
        "min_completeness": rules.min_completeness,
        "born_after": born_after,
        "born_before": born_before,
        "min_full_rows": (math.ceil(previous * (1 - rules.max_shrink)) if previous else None),
    }


def _render(value: Any, values: dict[str, Any]) -> tuple[Any, bool]:
    """Substitute ``{"$PARAMETER": name}``; the flag is False when a parameter has no value."""
    if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        resolved = values.get(value["$PARAMETER"])
        if value["$PARAMETER"] not in values:
            raise QualityCheckError(f"the suite names an unknown parameter {value['$PARAMETER']!r}")
        return resolved, resolved is not None
    return value, True


def applicable(
    suite: Suite, batch: Batch, values: dict[str, Any], severities: dict[str, Severity]
) -> tuple[list[tuple[Check, Severity, dict[str, Any]]], list[str]]:
    """The suite's checks that apply to this batch, with kwargs rendered, and those left out."""
    chosen: list[tuple[Check, Severity, dict[str, Any]]] = []
    skipped: list[str] = []
    for check in suite.checks:
        if check.applies == "full" and not batch.is_full:
            continue
        kwargs: dict[str, Any] = {}
        usable = True
        for key, raw in check.kwargs.items():
            kwargs[key], ok = _render(raw, values)
            usable = usable and ok
        if not usable:
            skipped.append(check.name)
            continue
        chosen.append((check, severities.get(check.name, check.severity), kwargs))
    return chosen, skipped


class _Gx:
    """One ephemeral GX context and SQL data source per warehouse URL, per process."""

    _lock = threading.Lock()
    _sources: dict[str, Any] = {}

    @classmethod
    def source(cls, url: str) -> Any:
        with cls._lock:
            if url not in cls._sources:
                import great_expectations as gx
                from great_expectations.data_context.types.base import ProgressBarsConfig

                import trustdata.quality.expectations  # noqa: F401  (registers the types)

                context = gx.get_context(mode="ephemeral")
                context.variables.progress_bars = ProgressBarsConfig(globally=False)
                name = f"warehouse_{len(cls._sources)}"
                with warnings.catch_warnings():
                    # GX suggests its Postgres source, whose URL check refuses the embedded
                    # server's socket URL; the generic SQL source runs the same engine.
                    warnings.filterwarnings(
                        "ignore", message="You are using a generic SQLDatasource"
                    )
                    # GX's stub omits ``kwargs`` (create_engine's), which SQLDatasource takes.
                    cls._sources[url] = context.data_sources.add_sql(  # type: ignore[call-arg]
                        name=name,
                        connection_string=url,
                        kwargs={"connect_args": {"options": SESSION_OPTIONS}},
                    )
            source = cls._sources[url]
        # Outside the lock: the collection may run finalizers.
        freeze_long_lived("great_expectations")
        return source


def gx_suite(name: str, chosen: list[tuple[Check, Severity, dict[str, Any]]]) -> Any:
    """A GX ExpectationSuite of the chosen checks (kwargs rendered, severity in meta)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    import trustdata.quality.expectations  # noqa: F401  (registers the types)

    expectations = []
    for check, severity, kwargs in chosen:
        config = check.configuration(severity)
        config["kwargs"] = kwargs
        expectations.append(ExpectationConfiguration(**config).to_domain_obj())
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _scrub(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key not in _ROW_VALUE_KEYS}


def _count(check: Check, result: dict[str, Any]) -> int | None:
    if "unexpected_count" in result:  # None on an empty batch
        return int(result["unexpected_count"] or 0)
    observed = result.get("observed_value")
    if check.type.startswith("expect_table_row_count") or not isinstance(observed, int):
        return None
    return observed  # a custom SQL check observes its failing rows (or days)


def validate(
    engine: Engine,
    suite: Suite,
    batch: Batch,
    chosen: list[tuple[Check, Severity, dict[str, Any]]],
    skipped: list[str],
) -> Validation:
    """Validate the batch's staged rows with GX; raise QualityCheckError if a check can't run."""
    started = time.perf_counter()
    table = staged_table(Stream(batch.stream), batch.batch_id)
    source = _Gx.source(engine.url.render_as_string(hide_password=False))
    # The batch is a view over its staging rows, which GX reads as a table: as a query asset,
    # GX would run the whole query once just to learn its column names (1M rows fetched).
    view = f"gx_batch_{batch.batch_id.hex}_{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        drop_validation_views(conn, batch.batch_id.hex)  # left by a killed earlier attempt
        conn.execute(
            text(
                f"CREATE VIEW {table.schema}.{view} AS SELECT * FROM {table.schema}.{table.name} "
                f"WHERE batch_id = '{batch.batch_id}'"
            )
        )
    try:
        asset = source.add_table_asset(name=view, table_name=view, schema_name=table.schema)
        try:
            gx_batch = asset.add_batch_definition_whole_table("batch").get_batch()
            result = gx_batch.validate(gx_suite(suite.name, chosen), result_format=_RESULT_FORMAT)
        finally:
            source.delete_asset(view)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP VIEW IF EXISTS {table.schema}.{view}"))
    by_check = {check.name: (check, severity) for check, severity, _ in chosen}
    outcomes: list[Outcome] = []
    document = result.to_json_dict()
    for item, raw in zip(result.results, document["results"], strict=True):
        name = item.expectation_config.meta["check"]
        check, severity = by_check[name]
        if item.exception_info and item.exception_info.get("raised_exception"):
            log.error("check %s could not run on batch %s", name, batch.batch_id)
            raise QualityCheckError(
                f"check {name} ({check.type}) could not run on batch {batch.batch_id}; "
                "see the task log for GX's error"
            )
        values = dict(item.result or {})
        outcomes.append(
            Outcome(
                check=check,
                severity=severity,
                success=bool(item.success),
                unexpected=_count(check, values),
                elements=values.get("element_count"),
            )
        )
        raw["result"] = _scrub(raw.get("result") or {})
        raw.pop("exception_info", None)
    document["meta"] = {
        **(document.get("meta") or {}),
        "batch_id": str(batch.batch_id),
        "academy_id": batch.academy_id,
        "stream": batch.stream,
        "skipped": skipped,
    }
    return Validation(
        suite=suite.name,
        outcomes=outcomes,
        result=document,
        seconds=time.perf_counter() - started,
        skipped=skipped,
    )
