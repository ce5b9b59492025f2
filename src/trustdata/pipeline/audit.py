"""Audit: check a landed batch in staging before it may be published.

Each check is set-based SQL over the staging table (or a small Python pass over pupils, whose
UPN check letter needs code), returns its failing rows' keys, and has a severity:
``error`` blocks the batch; ``warn`` quarantines the failing rows and lets the rest publish.
Failing rows are copied to ``meta.quarantine`` with the check's reason before they leave staging,
so nothing is dropped. Messages carry counts and codes, never pupil data.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from trustdata.adapters.base import CHARACTERISTICS, REGISTRATIONS, Stream
from trustdata.domain import checks
from trustdata.domain.records import MARK_OBJECT
from trustdata.domain.upn import upn_problem
from trustdata.pipeline.batches import Batch, BatchStatus, get_batch, set_status
from trustdata.pipeline.land import LANDING
from trustdata.pipeline.streams import PUPIL_KEYED
from trustdata.warehouse.tables import (
    attendance_landing,
    deletions,
    pupils,
    pupils_landing,
    quarantine,
)

log = logging.getLogger(__name__)


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


def _quarantine(
    conn: Connection,
    *,
    batch_id: uuid.UUID,
    stream: Stream,
    check: str,
    severity: str,
    reason: str,
    condition: object,
) -> int:
    """Move staging rows matching ``condition`` into meta.quarantine, with the reason."""
    table = LANDING[stream][0]
    where = and_(table.c.batch_id == batch_id, condition)  # type: ignore[arg-type]
    record = func.to_jsonb(table.table_valued())
    moved = conn.execute(
        quarantine.insert().from_select(
            ["batch_id", "academy_id", "stream", "check_name", "severity", "reason", "record"],
            select(
                table.c.batch_id,
                table.c.academy_id,
                literal(stream.value),
                literal(check),
                literal(severity),
                literal(reason),
                record,
            ).where(where),
        )
    ).rowcount
    if severity == "warn":
        conn.execute(table.delete().where(where))
    return int(moved or 0)


def _warn(
    conn: Connection,
    batch_id: uuid.UUID,
    stream: Stream,
    check: str,
    reason: str,
    condition: object,
    result: AuditResult,
    noun: str,
) -> None:
    """Quarantine the rows failing a warn-level check; note how many, if any, and why."""
    moved = _quarantine(
        conn,
        batch_id=batch_id,
        stream=stream,
        check=check,
        severity="warn",
        reason=reason,
        condition=condition,
    )
    if moved:
        result.quarantined += moved
        result.problems.append(f"warn: {moved} {noun} quarantined: {reason}")


def _audit_pupils(conn: Connection, batch: Batch, result: AuditResult) -> None:
    batch_id = batch.batch_id
    if batch.rows_landed == 0 and batch.is_full:
        result.problems.append(
            "error: a full extract returned no pupils; an empty roll is not published "
            "(check the school id and that the MIS grants access to pupils)"
        )
        result.status = BatchStatus.BLOCKED
        return
    staged = conn.execute(
        select(pupils_landing.c.mis_id, pupils_landing.c.upn).where(
            pupils_landing.c.batch_id == batch_id
        )
    ).all()
    invalid = {mis_id for mis_id, upn in staged if upn is None or upn_problem(upn) is not None}
    if invalid:
        moved = _quarantine(
            conn,
            batch_id=batch_id,
            stream=Stream.PUPILS,
            check="upn_valid",
            severity="warn",
            reason="UPN missing, badly formed or with a wrong check letter",
            condition=pupils_landing.c.mis_id.in_(sorted(invalid)),
        )
        result.quarantined += moved
        result.problems.append(f"warn: {moved} pupils without a valid UPN quarantined")
    by_upn = Counter(upn for mis_id, upn in staged if mis_id not in invalid)
    twice = [upn for upn, count in by_upn.items() if count > 1]
    if twice:
        moved = _quarantine(
            conn,
            batch_id=batch_id,
            stream=Stream.PUPILS,
            check="upn_unique",
            severity="warn",
            reason="the same UPN is on two MIS pupil records",
            condition=pupils_landing.c.upn.in_(twice),
        )
        result.quarantined += moved
        result.problems.append(f"warn: {moved} pupil records share a UPN; quarantined")


def _failing(
    conn: Connection, stream: Stream, batch_id: uuid.UUID, conditions: list[Any]
) -> list[int]:
    """How many of the batch's staged rows meet each condition, in one pass over the batch.

    The checks then quarantine only where something fails: a clean batch (nearly all) is read
    once, not once per check.
    """
    table = LANDING[stream][0]
    counts = conn.execute(
        select(*(func.count().filter(condition) for condition in conditions)).where(
            table.c.batch_id == batch_id
        )
    ).one()
    return [int(n) for n in counts]


def _audit_attendance(
    conn: Connection, batch_id: uuid.UUID, academy_id: str, result: AuditResult
) -> None:
    staged = attendance_landing.c
    known_pupil = exists().where(
        pupils.c.academy_id == academy_id, pupils.c.mis_id == staged.mis_pupil_id
    )
    deleted_in_mis = exists().where(
        deletions.c.academy_id == academy_id,
        deletions.c.object_type == MARK_OBJECT,
        deletions.c.mis_id == staged.mis_mark_id,
    )
    warn_checks = [
        ("session_am_pm", "session is not AM or PM", ~staged.session.in_(("AM", "PM"))),
        ("pupil_known", "mark for a pupil not on the academy's published roll", ~known_pupil),
        # A read that raced the deletion (the deletion published first) must not bring it back.
        ("mark_not_deleted", "the MIS has since deleted this mark", deleted_in_mis),
    ]
    unmapped_count, *failing = _failing(
        conn,
        Stream.ATTENDANCE,
        batch_id,
        [staged.code.is_(None), *(condition for _, _, condition in warn_checks)],
    )
    if unmapped_count:
        unmapped = conn.execute(
            select(staged.source_code, func.count())
            .where(staged.batch_id == batch_id, staged.code.is_(None))
            .group_by(staged.source_code)
            .order_by(staged.source_code)
        ).all()
        listed = ", ".join(f"{code!r} x {count}" for code, count in unmapped)
        result.quarantined += _quarantine(
            conn,
            batch_id=batch_id,
            stream=Stream.ATTENDANCE,
            check="code_valid_on_date",
            severity="error",
            reason="code not mapped to a national code in force on the mark's date",
            condition=staged.code.is_(None),
        )
        result.problems.append(
            f"error: attendance codes not valid on their marks' dates: {listed} "
            "(map MIS sub-codes in the academy's code_map, or correct the register)"
        )
        result.status = BatchStatus.BLOCKED
    for (check, reason, condition), count in zip(warn_checks, failing, strict=True):
        if count:
            _warn(conn, batch_id, Stream.ATTENDANCE, check, reason, condition, result, "marks")


def _row_checks(stream: Stream) -> list[tuple[str, str, Any]]:
    """(check, reason, failing-row condition) of each warn-level check on a pupil-keyed stream."""
    spec = PUPIL_KEYED[stream]
    staged = spec.landing.c
    found: list[tuple[str, str, Any]] = [
        (
            "pupil_known",
            "row for a pupil not on the academy's published roll",
            ~exists().where(
                pupils.c.academy_id == staged.academy_id, pupils.c.mis_id == staged.mis_pupil_id
            ),
        )
    ]
    if stream in (Stream.ENROLMENTS, Stream.CHARACTERISTICS):
        found.append(("period_ordered", checks.PERIOD_ORDERED, staged.end_date < staged.start_date))
    if stream is Stream.ENROLMENTS:
        found.append(
            (
                "registration_known",
                checks.REGISTRATION_KNOWN,
                and_(staged.registration.is_not(None), ~staged.registration.in_(REGISTRATIONS)),
            )
        )
    elif stream is Stream.CHARACTERISTICS:
        found.append(
            (
                "characteristic_known",
                checks.CHARACTERISTIC_KNOWN,
                ~staged.characteristic.in_(CHARACTERISTICS),
            )
        )
    elif stream is Stream.ASSESSMENTS:
        score = staged.result.regexp_match(r"^[0-9]{2,3}$")
        in_range = and_(
            score, cast(func.nullif(staged.result, ""), Integer).between(*checks.KS2_SCORE_RANGE)
        )
        found += [
            (
                "ks2_test_result_valid",
                checks.KS2_TEST_RESULT,
                and_(
                    staged.key_stage == "KS2",
                    staged.method == "TT",
                    ~case((score, in_range), else_=staged.result.in_(checks.KS2_RESULT_CODES)),
                ),
            ),
            (
                "gcse_grade_valid",
                checks.GCSE_GRADE,
                and_(
                    staged.key_stage == "KS4",
                    staged.subject != "",
                    staged.method == "EX",
                    ~staged.result.in_(checks.GCSE_GRADES),
                ),
            ),
        ]
    elif stream is Stream.ATTENDANCE_SUMMARIES:
        found.append(
            (
                "sessions_consistent",
                checks.SESSIONS_CONSISTENT,
                or_(
                    staged.sessions_possible < 0,
                    staged.sessions_authorised < 0,
                    staged.sessions_attended < 0,
                    staged.sessions_unauthorised < 0,
                    staged.sessions_attended
                    + staged.sessions_authorised
                    + staged.sessions_unauthorised
                    > staged.sessions_possible,
                ),
            )
        )
    return found


def _audit_pupil_keyed(conn: Connection, batch: Batch, result: AuditResult) -> None:
    stream = Stream(batch.stream)
    found = _row_checks(stream)
    failing = _failing(conn, stream, batch.batch_id, [condition for _, _, condition in found])
    for (check, reason, condition), count in zip(found, failing, strict=True):
        if count:
            _warn(conn, batch.batch_id, stream, check, reason, condition, result, f"{stream} rows")


def audit(*, engine: Engine, batch_id: uuid.UUID) -> AuditResult:
    """Run the checks on a landed batch and record the outcome on the batch."""
    with engine.begin() as conn:
        batch = get_batch(conn, batch_id, lock=True)
        if batch.status not in (BatchStatus.LANDED, BatchStatus.AUDITED):
            raise ValueError(f"batch {batch_id} is {batch.status}; only a landed batch is audited")
        result = AuditResult(batch_id, BatchStatus.AUDITED)
        if batch.stream == Stream.PUPILS.value:
            _audit_pupils(conn, batch, result)
        elif batch.stream == Stream.ATTENDANCE.value:
            _audit_attendance(conn, batch_id, batch.academy_id, result)
        elif Stream(batch.stream) in PUPIL_KEYED:
            _audit_pupil_keyed(conn, batch, result)
        # Deletions need no row checks: an unknown id deletes nothing.
        set_status(
            conn,
            batch_id,
            result.status,
            rows_quarantined=result.quarantined,
            message="; ".join(result.problems) or None,
        )
    log.info("audited batch %s: %s, %d quarantined", batch_id, result.status, result.quarantined)
    return result
