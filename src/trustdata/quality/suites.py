"""The expectation suites in ``expectations/``: one per landed table, read without GX.

A suite is Great Expectations' own JSON (``name``, ``expectations``, ``meta``). Each expectation
carries in its ``meta``:

- ``check``: the stable name quarantine rows, results and the trust config refer to;
- ``severity``: ``error`` blocks the batch's publish, ``warn`` quarantines the failing rows
  and publishes the rest (an academy may override it: ``quality.severity`` in the config);
- ``reason``: what a failure means, in words a data team can act on;
- ``level`` (optional): ``row`` (default; failing rows are quarantined) or ``batch`` (a
  property of the whole batch, such as its size or a day's completeness);
- ``applies`` (optional): ``full`` for checks that only make sense on a full extract.

Kwargs may hold ``{"$PARAMETER": name}``: a value worked out per batch and academy (see
``trustdata.quality.validate.parameters``). An expectation whose parameter has no value for
a batch (no earlier extract to compare with) is left out of that batch's suite.

Reading the suites needs no GX import, so the trust config can check check names cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from trustdata.adapters.base import Stream
from trustdata.config.settings import PROJECT_ROOT

SUITE_DIR = PROJECT_ROOT / "expectations"

Severity = Literal["error", "warn"]

#: The suite file of each landed stream.
SUITE_FILES: dict[Stream, str] = {
    Stream.PUPILS: "pupils_landing.json",
    Stream.ATTENDANCE: "attendance_landing.json",
    Stream.ENROLMENTS: "enrolments_landing.json",
    Stream.CHARACTERISTICS: "characteristics_landing.json",
    Stream.ASSESSMENTS: "assessments_landing.json",
    Stream.ATTENDANCE_SUMMARIES: "attendance_summaries_landing.json",
    Stream.DELETIONS: "deletions_landing.json",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation of a suite, with the meaning the pipeline gives it."""

    name: str
    type: str
    kwargs: dict[str, Any]
    severity: Severity
    reason: str
    level: Literal["row", "batch"] = "row"
    applies: Literal["always", "full"] = "always"
    notes: str = ""

    def configuration(self, severity: Severity) -> dict[str, Any]:
        """The expectation as GX's JSON, with the severity in force for this batch."""
        return {
            "type": self.type,
            "kwargs": self.kwargs,
            "meta": {
                "check": self.name,
                "severity": severity,
                "reason": self.reason,
                "level": self.level,
            },
        }


@dataclass(frozen=True, slots=True)
class Suite:
    """A stream's suite: its name (the landed table) and checks in order."""

    name: str
    stream: Stream
    checks: tuple[Check, ...]
    meta: dict[str, Any]


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and what to fix."""


def _check(path: Path, position: int, raw: dict[str, Any]) -> Check:
    meta = raw.get("meta") or {}
    where = f"{path.name}, expectation {position + 1}"
    for required in ("check", "severity", "reason"):
        if not meta.get(required):
            raise SuiteError(f"{where}: meta.{required} is missing (every expectation needs one)")
    if meta["severity"] not in ("error", "warn"):
        raise SuiteError(f"{where}: meta.severity must be 'error' or 'warn'")
    if not raw.get("type"):
        raise SuiteError(f"{where}: 'type' is missing (a GX expectation type)")
    return Check(
        name=meta["check"],
        type=raw["type"],
        kwargs=dict(raw.get("kwargs") or {}),
        severity=meta["severity"],
        reason=meta["reason"],
        level=meta.get("level", "row"),
        applies=meta.get("applies", "always"),
        notes=meta.get("notes", ""),
    )


def load_suite(path: Path, stream: Stream) -> Suite:
    """Read one suite file, checking the fields the pipeline relies on."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the suite ({exc})") from exc
    checks = tuple(_check(path, i, e) for i, e in enumerate(raw.get("expectations") or []))
    names = [check.name for check in checks]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SuiteError(f"{path.name}: check names used twice: {', '.join(twice)}")
    return Suite(
        name=raw.get("name") or path.stem, stream=stream, checks=checks, meta=raw.get("meta") or {}
    )


@cache
def suites(directory: Path = SUITE_DIR) -> dict[Stream, Suite]:
    """Every stream's suite, read once per process."""
    return {stream: load_suite(directory / name, stream) for stream, name in SUITE_FILES.items()}


def check_names() -> set[str]:
    """Every check name any suite defines (what ``quality.severity`` may name)."""
    return {check.name for suite in suites().values() for check in suite.checks}
