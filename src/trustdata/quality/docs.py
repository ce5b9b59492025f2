"""Great Expectations Data Docs for the data team: the suites and each batch's validation.

The stored results (``meta.validations``, counts only) are loaded into an ephemeral GX context
and rendered as a static HTML site: an index, one page per suite, one per validation. By
default the latest validations of each academy and feed are rendered; nothing in the site
comes from a row of pupil data.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from trustdata.quality.suites import suites

SITE = "trustdata"

_LATEST = """
SELECT batch_id, academy_id, stream, suite, validated_at, result
FROM (
    SELECT v.*, row_number() OVER (
        PARTITION BY academy_id, stream ORDER BY validated_at DESC) AS recent
    FROM meta.validations AS v
    WHERE CAST(:academy AS text) IS NULL OR academy_id = :academy
) AS ranked
WHERE recent <= :per_feed
ORDER BY academy_id, stream, validated_at
"""


def _with_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A custom expectation's kwargs for the suite's page: parameters at their defaults.

    GX's own expectations show ``$PARAMETER`` as such; the custom ones build their query from
    their kwargs, so they are shown with the defaults an academy gets unless it sets its own.
    """
    from trustdata.config.trust import QualityRules

    defaults = {**QualityRules().model_dump(), "academy_id": "each academy", "incremental": True}
    shown = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
            value = defaults.get(value["$PARAMETER"], value)
        shown[key] = value
    return shown


def build_data_docs(
    engine: Engine, out: Path, *, academy_id: str | None = None, per_feed: int = 10
) -> tuple[Path, int]:
    """Render the site into ``out`` (replacing an earlier build); return its index and the
    number of validations rendered."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from trustdata.quality.expectations import CUSTOM

    if per_feed < 1:
        raise ValueError("per_feed must be at least 1")
    with engine.connect() as conn:
        rows = list(
            conn.execute(text(_LATEST), {"academy": academy_id, "per_feed": per_feed}).mappings()
        )
    if out.exists():
        shutil.rmtree(out)
    context: Any = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name=SITE,
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(out),
            },
        },
    )
    for suite in suites().values():
        expectations = []
        for check in suite.checks:
            configuration = check.configuration(check.severity)
            if check.type in CUSTOM:
                configuration["kwargs"] = _with_defaults(check.kwargs)
            expectations.append(ExpectationConfiguration(**configuration).to_domain_obj())
        context.suites.add(
            gx.ExpectationSuite(name=suite.name, expectations=expectations, meta=suite.meta)
        )
    schema = ExpectationSuiteValidationResultSchema()
    for row in rows:
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=row["suite"]),
            run_id=RunIdentifier(run_name=row["academy_id"], run_time=row["validated_at"]),
            batch_identifier=str(row["batch_id"]),
        )
        context.validation_results_store.set(key, schema.load(row["result"]))
    context.build_data_docs(site_names=[SITE])
    return out / "index.html", len(rows)
