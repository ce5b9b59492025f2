"""``trustdata onboard ACADEMY``: rehearse an academy's feed before its first real sync.

It validates the academy's config, resolves the credential, tests the connection, reads a
sample of every stream the adapter serves, runs the same checks the audit step applies, and
returns a readable report: what was found, what failed and what to fix. It writes nothing to
the warehouse. Report lines carry counts, codes and ids of the academy, never pupil data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from trustdata.adapters.base import Adapter, AdapterError, Page, Record, Stream, Window
from trustdata.adapters.registry import adapter_class
from trustdata.config.trust import Academy, load_trust_config
from trustdata.domain import checks
from trustdata.domain.records import AttendanceMarkRecord, PupilRecord
from trustdata.domain.upn import upn_problem
from trustdata.orchestration.credentials import CredentialError, resolve_secret
from trustdata.pipeline.land import code_mapper


@dataclass
class Report:
    """Checks and their outcomes, in the order they ran."""

    title: str
    lines: list[tuple[bool, str, str]] = field(default_factory=list)

    def add(self, ok: bool, check: str, detail: str) -> None:
        """Record one check's outcome."""
        self.lines.append((ok, check, detail))

    @property
    def ready(self) -> bool:
        """True when every check passed."""
        return all(ok for ok, _, _ in self.lines)

    def render(self) -> str:
        """The report as text for a terminal."""
        body = [self.title]
        body += [
            f"  [{'ok' if ok else 'FAIL':4}] {check}: {detail}" for ok, check, detail in self.lines
        ]
        failed = sum(1 for ok, _, _ in self.lines if not ok)
        body.append(
            "Result: ready for its first sync"
            if not failed
            else f"Result: {failed} problem(s) to fix"
        )
        return "\n".join(body)


def _records(pages: Iterator[Page], limit: int | None) -> list[Record]:
    records = (record for page in pages for record in page.records)
    return list(islice(records, limit) if limit else records)


def _check_pupils(report: Report, pupils: list[PupilRecord]) -> set[str]:
    if not pupils:
        report.add(
            False,
            "pupils",
            "the MIS returned no pupils: check the school id and that pupil data is shared",
        )
        return set()
    bad = sum(1 for p in pupils if p.upn is None or upn_problem(p.upn) is not None)
    twice = sum(
        count - 1 for count in Counter(p.upn for p in pupils if p.upn).values() if count > 1
    )
    disadvantaged = sum(1 for p in pupils if p.fsm6 or p.in_care or p.previously_in_care)
    summary = f"{len(pupils)} pupils read; {100 * disadvantaged / len(pupils):.0f}% disadvantaged (FSM6, CLA or PLAC)"
    report.add(True, "pupils", summary)
    report.add(
        bad == 0 and twice == 0,
        "pupil identity",
        "every pupil has a valid, unique UPN"
        if not (bad or twice)
        else f"{bad} without a valid UPN (check letter or format) and {twice} sharing a UPN: these are "
        "quarantined at each sync until the MIS record is corrected",
    )
    return {p.mis_id for p in pupils}


def _check_marks(
    report: Report, academy: Academy, marks: list[AttendanceMarkRecord], roll: set[str]
) -> None:
    if not marks:
        report.add(
            True, "attendance", "no marks in the sample (a new academic year may not have started)"
        )
        return
    first, last = min(m.mark_date for m in marks), max(m.mark_date for m in marks)
    report.add(True, "attendance", f"sample of {len(marks)} marks from {first} to {last}")
    map_code = code_mapper(academy.code_map)
    unmapped = Counter(m.source_code for m in marks if map_code(m.source_code, m.mark_date) is None)
    if unmapped:
        listed = ", ".join(f"{code!r} x {n}" for code, n in sorted(unmapped.items()))
        example = next(iter(sorted(unmapped)))
        report.add(
            False,
            "attendance codes",
            f"not national codes in force on the marks' dates: {listed}. Map each MIS code in the "
            f"academy's code_map, e.g. code_map: {{{example!r}: <national code>}}",
        )
    else:
        report.add(
            True, "attendance codes", "every code maps onto a national code in force on its date"
        )
    sessions = sum(1 for m in marks if m.session not in ("AM", "PM"))
    unknown = sum(1 for m in marks if m.mis_pupil_id not in roll)
    report.add(
        sessions == 0 and unknown == 0,
        "attendance pupils and sessions",
        "every mark is for a pupil on roll, in an AM or PM session"
        if not (sessions or unknown)
        else f"{unknown} marks for pupils not on roll, {sessions} with a session other than AM/PM",
    )


#: The day before the 2024 code table came into force: a code valid on it or today is national.
_LAST_OLD_DAY = date(2024, 8, 18)


def _check_code_table(report: Report, academy: Academy, codes: list[str] | None) -> None:
    """Every code in the MIS's table must map onto a national code, under either code set."""
    if codes is None:
        return
    map_code = code_mapper(academy.code_map)
    today = date.today()
    unknown = [
        c for c in codes if map_code(c, today) is None and map_code(c, _LAST_OLD_DAY) is None
    ]
    if unknown:
        listed = ", ".join(repr(c) for c in unknown)
        report.add(
            False,
            "code table",
            f"the MIS's code table has codes that map onto no national code: {listed}. Map each "
            "in the academy's code_map before it is used, or a batch holding it is blocked",
        )
    else:
        report.add(
            True,
            "code table",
            f"{len(codes)} codes in the MIS's code table, each a national code or mapped onto one",
        )


def onboard(
    academy_id: str,
    *,
    config_path: Path,
    sample: int = 2000,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    """Rehearse one academy's feed and return the report (ConfigError if the config is broken)."""
    academy = load_trust_config(config_path).academy(academy_id)
    report = Report(
        f"Onboarding {academy.id} ({academy.name}, URN {academy.urn}) with adapter {academy.adapter.kind}"
    )
    report.add(True, "config", f"valid ({config_path})")
    try:
        secret = resolve_secret(academy.adapter.credential, academy.id)
    except CredentialError as exc:
        report.add(False, "credential", str(exc))
        return report
    cls = adapter_class(academy.adapter.kind)
    report.add(
        True,
        "credential",
        "found" if cls.uses_secret else "found (this adapter reads files and does not use it)",
    )
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), transport=transport) as client:
        adapter: Adapter[Any] = cls(
            options=cls.Options.model_validate(academy.adapter.options),
            secret=secret,
            client=client,
        )
        try:
            adapter.check_connection()
        except AdapterError as exc:
            report.add(False, "connection", str(exc))
            return report
        report.add(True, "connection", cls.connection_proves)
        _sample_streams(report, academy, adapter, cls.streams, sample)
    return report


def _sample_streams(
    report: Report,
    academy: Academy,
    adapter: Adapter[Any],
    streams: frozenset[Stream],
    sample: int,
) -> None:
    try:
        pupils = [
            r
            for r in _records(adapter.fetch(Stream.PUPILS, Window()), None)
            if isinstance(r, PupilRecord)
        ]
        roll = _check_pupils(report, pupils)
        if Stream.ATTENDANCE in streams:
            _check_code_table(report, academy, adapter.code_table())
            marks = _records(adapter.fetch(Stream.ATTENDANCE, Window()), sample)
            _check_marks(
                report, academy, [m for m in marks if isinstance(m, AttendanceMarkRecord)], roll
            )
        for stream in _PUPIL_KEYED:
            if stream in streams:
                rows = _records(adapter.fetch(stream, Window()), sample)
                _check_pupil_keyed(report, stream, rows, roll)
        if Stream.DELETIONS in streams:
            deleted = _records(adapter.fetch(Stream.DELETIONS, Window()), None)
            report.add(True, "deletions", f"{len(deleted)} deleted records listed by the MIS")
    except AdapterError as exc:
        report.add(False, "reading data", str(exc))


_PUPIL_KEYED: dict[Stream, tuple[str, Callable[[Any], str | None]]] = {
    Stream.ENROLMENTS: ("enrolments", checks.enrolment_problem),
    Stream.CHARACTERISTICS: ("FSM/CLA/PLAC/service-child periods", checks.period_problem),
    Stream.ATTENDANCE_SUMMARIES: ("attendance summaries", checks.summary_problem),
    Stream.ASSESSMENTS: ("assessment results", checks.result_problem),
}


def _check_pupil_keyed(report: Report, stream: Stream, rows: list[Record], roll: set[str]) -> None:
    """Count a sample of a pupil-keyed stream and apply the audit's row rules to it."""
    label, problem = _PUPIL_KEYED[stream]
    if not rows:
        report.add(True, stream.value, f"no {label} in the sample")
        return
    report.add(True, stream.value, f"sample of {len(rows)} {label}")
    unknown = sum(1 for r in rows if getattr(r, "mis_pupil_id", None) not in roll)
    failing = Counter(reason for r in rows if (reason := problem(r)) is not None)
    if unknown:
        failing[f"for pupils not on roll ({unknown})"] = 0
    detail = "; ".join(f"{n} {reason}" if n else reason for reason, n in sorted(failing.items()))
    report.add(
        not failing,
        f"{stream.value} rows",
        "every row passes the audit's rules"
        if not failing
        else f"{detail}: these rows are quarantined at each sync until the MIS is corrected",
    )
