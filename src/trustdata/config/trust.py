"""The trust configuration: the trust, its hubs and its academies, validated loudly.

One YAML file (``infra/trust.yaml``) or a folder holding ``trust.yaml`` plus one file per academy
under ``academies/``. Every error names the file, the field and what to do about it.
Secrets are never written here: an academy names its credential (an environment variable or an
Airflow connection id) and the pipeline resolves it at run time.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
_SCHEDULE = re.compile(
    r"@(hourly|daily|weekly|monthly|yearly|annually|midnight)"
    r"|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4}"
)


class Phase(StrEnum):
    """Phase of education of an academy."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    ALL_THROUGH = "all-through"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Credential(_Strict):
    """Where the academy's MIS credential comes from (never the secret itself)."""

    env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    airflow_connection: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Credential:
        if (self.env is None) == (self.airflow_connection is None):
            raise ValueError("give exactly one of 'env' (variable name) or 'airflow_connection'")
        return self


class Adapter(_Strict):
    """Which MIS adapter reads the academy, with its own options (validated by the adapter)."""

    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    credential: Credential


def check_schedule(value: str) -> str:
    """Return the schedule stripped, or raise ValueError saying how to write one."""
    if not _SCHEDULE.fullmatch(value.strip()):
        raise ValueError(
            f"{value!r} is not a schedule: use a preset such as @daily, or a 5-field cron "
            "such as '30 5 * * 1-5'"
        )
    return value.strip()


class QualityRules(_Strict):
    """How an academy's batches are judged (the suites in ``expectations/`` say what is checked)."""

    severity: dict[str, Literal["error", "warn"]] = Field(
        default_factory=dict,
        description=(
            "Checks whose severity differs for this academy, by check name: 'error' blocks the "
            "batch, 'warn' quarantines the failing rows and publishes the rest."
        ),
    )
    min_completeness: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="The share of expected marks (two per pupil on roll) a school day must hold.",
    )
    max_shrink: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "How much smaller than the last published full extract a full extract may be "
            "before it is blocked (0.5: half the rows)."
        ),
    )
    closed_dates: list[date] = Field(
        default_factory=list,
        description="Weekdays the academy is closed (INSET days, closures): no marks expected.",
    )

    @field_validator("severity")
    @classmethod
    def _known_checks(cls, value: dict[str, str]) -> dict[str, str]:
        from trustdata.quality.suites import check_names

        known = check_names()
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"no check is called {', '.join(unknown)}; the checks are: "
                + ", ".join(sorted(known))
            )
        return value


class Academy(_Strict):
    """One academy of the trust."""

    id: Slug
    urn: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
    name: str = Field(min_length=1)
    phase: Phase
    hub: Slug
    adapter: Adapter
    schedule: str = Field(
        default="@daily",
        description="When the academy's DAG runs: a preset such as @daily, or a 5-field cron",
    )
    lookback_days: int = Field(default=7, ge=0, le=60)
    max_removal_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description=(
            "The largest share of the academy's stored enrolments or characteristic periods one "
            "batch may withdraw; a batch over it is blocked for a person to check."
        ),
    )
    webhook_secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description=(
            "The environment variable (on the read API) holding the secret the academy's MIS "
            "signs its events with. Unset: the academy sends no events; it runs on schedule."
        ),
    )
    quality: QualityRules = Field(default_factory=QualityRules)
    code_map: dict[str, str] = Field(
        default_factory=dict,
        description="MIS attendance sub-codes mapped onto national codes, e.g. {'I1': 'I'}.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_schedule(value)

    @model_validator(mode="after")
    def _national_targets(self) -> Academy:
        from trustdata.domain.codes import national_code_table

        table = national_code_table()
        unknown = sorted(target for target in self.code_map.values() if target not in table)
        if unknown:
            raise ValueError(
                f"code_map maps onto {unknown}, which are not national attendance codes"
            )
        return self

    @property
    def lookback(self) -> timedelta:
        """How far behind the attendance watermark an incremental sync re-reads."""
        return timedelta(days=self.lookback_days)


class Hub(_Strict):
    """A group of academies managed together."""

    id: Slug
    name: str = Field(min_length=1)


class AggregatorEvents(_Strict):
    """Events from a Wonde-style aggregator: one endpoint and one secret for all its schools.

    The aggregator signs the raw body with HMAC-SHA256 under the trust's shared secret and
    names the school by its own id; the academy whose adapter reads that school takes the
    event. Its header is configurable because the vendor's is not documented here.
    """

    secret_env: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="The environment variable (on the read API) holding the shared secret.",
    )
    signature_header: str = Field(
        default="X-Signature",
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$",
        description="The header carrying the hex HMAC-SHA256 of the body (sha256= optional).",
    )


class TrustConfig(_Strict):
    """The whole trust: hubs and academies."""

    id: Slug
    name: str = Field(min_length=1)
    hubs: list[Hub] = Field(min_length=1)
    academies: list[Academy] = Field(default_factory=list)
    reconcile_schedule: str = Field(
        default="0 4 * * 6",
        description=(
            "When every academy is reconciled (full reads compared with the warehouse): a "
            "preset or a 5-field cron; default Saturdays at 04:00"
        ),
    )

    wonde_events: AggregatorEvents | None = Field(
        default=None,
        description=(
            "Take events from the Wonde-style aggregator at POST /api/v1/events/wonde for every "
            "academy read by the wonde adapter. Unset: no aggregator events."
        ),
    )

    @field_validator("reconcile_schedule")
    @classmethod
    def _reconcile_cron(cls, value: str) -> str:
        return check_schedule(value)

    def academy_for_school(self, kind: str, school_id: str) -> Academy | None:
        """The academy whose ``kind`` adapter reads the aggregator's school ``school_id``."""
        for academy in self.academies:
            if (
                academy.adapter.kind == kind
                and academy.adapter.options.get("school_id") == school_id
            ):
                return academy
        return None

    def academy(self, academy_id: str) -> Academy:
        """Return the academy with this id, or raise KeyError naming the known ids."""
        for academy in self.academies:
            if academy.id == academy_id:
                return academy
        known = ", ".join(a.id for a in self.academies)
        raise KeyError(f"no academy {academy_id!r} in the trust config (known: {known})")


class ConfigError(Exception):
    """A trust configuration that cannot be used; the message says where and how to fix it."""


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """Render a pydantic error location, naming academies by id rather than list index."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            entry = node[item]
            key = entry.get("id") if isinstance(entry, dict) else None
            parts[-1] = f"{parts[-1]}[{key!r}]" if key else f"{parts[-1]}[{item}]"
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
}


def _explain(error: ValidationError, data: Any, source: Path) -> ConfigError:
    lines = []
    for item in error.errors():
        fix = _FIXES.get(item["type"], "")
        where = _location(item["loc"], data)
        message = item["msg"] if item["type"] != "extra_forbidden" else "unknown field"
        lines.append(f"{source}: {where}: {message}" + (f" ({fix})" if fix else ""))
    return ConfigError("\n".join(lines))


#: libyaml's parser with the safe constructor: the same documents, read 8 times as fast (a
#: 93-academy config: 40 ms -> 5 ms), and every task of every run reads the config. A safe
#: loader either way (ruff's S506 cannot see through the getattr).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (set TRUSTDATA_TRUST_CONFIG to your trust config)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None


def _check_references(config: TrustConfig, source: Path) -> None:
    from trustdata.adapters.registry import adapter_class, known_kinds

    hubs = {hub.id for hub in config.hubs}
    seen: dict[str, str] = {}
    schools: dict[tuple[str, str], str] = {}
    problems = []
    for academy in config.academies:
        where = f"{source}: academies[{academy.id!r}]"
        if academy.id in seen:
            problems.append(f"{where}.id: duplicate academy id (each academy needs its own id)")
        if academy.urn in seen.values():
            problems.append(f"{where}.urn: URN {academy.urn} is used by another academy")
        seen[academy.id] = academy.urn
        if academy.hub not in hubs:
            problems.append(f"{where}.hub: unknown hub {academy.hub!r} (hubs: {sorted(hubs)})")
        school = academy.adapter.options.get("school_id")
        if isinstance(school, str):
            other = schools.setdefault((academy.adapter.kind, school), academy.id)
            if other != academy.id:
                problems.append(
                    f"{where}.adapter.options.school_id: school {school} is also read by "
                    f"academy {other!r} (each aggregator school belongs to one academy)"
                )
        if academy.adapter.kind not in known_kinds():
            problems.append(
                f"{where}.adapter.kind: unknown adapter kind {academy.adapter.kind!r} "
                f"(known: {', '.join(known_kinds())})"
            )
            continue
        try:
            adapter_class(academy.adapter.kind).Options.model_validate(academy.adapter.options)
        except ValidationError as exc:
            for item in exc.errors():
                path = ".".join(str(p) for p in item["loc"])
                fix = _FIXES.get(item["type"], "")
                message = item["msg"] if item["type"] != "extra_forbidden" else "unknown field"
                problems.append(
                    f"{where}.adapter.options.{path}: {message}" + (f" ({fix})" if fix else "")
                )
    if problems:
        raise ConfigError("\n".join(problems))


def _academy_files(folder: Path) -> list[tuple[Path, Any]]:
    return [(path, _read_yaml(path)) for path in sorted((folder / "academies").glob("*.y*ml"))]


def load_trust_config(path: Path) -> TrustConfig:
    """Load and validate the trust config at ``path`` (a YAML file or a folder).

    Raises ConfigError with one line per problem, each naming the file and the field.
    """
    path = Path(path)
    main = path / "trust.yaml" if path.is_dir() else path
    data = _read_yaml(main)
    if not isinstance(data, dict):
        raise ConfigError(f"{main}: expected a mapping with id, name, hubs and academies")
    academies = list(data.get("academies") or [])
    if path.is_dir():
        for academy_file, academy in _academy_files(path):
            if not isinstance(academy, dict):
                raise ConfigError(f"{academy_file}: expected a mapping describing one academy")
            try:
                Academy.model_validate(academy)
            except ValidationError as exc:
                raise _explain(exc, academy, academy_file) from None
            academies.append(academy)
        data = {**data, "academies": academies}
    try:
        config = TrustConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, main) from None
    _check_references(config, main)
    return config
