"""Synthetic register marks for one student: a year of AM/PM codes packed into ``bytes``.

Each student draws an absence propensity from a gamma distribution whose mean and skew match
the DfE's figures (overall absence about 10% for disadvantaged pupils and 5.5% for others,
persistent absence about 30% and 15%). Absences are then placed as events (illness spells,
single appointments, unauthorised days, holidays in term time) until the student's own share
of absent sessions is reached, which keeps the generator fast: work grows with the number of
events, not with the 380 sessions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sandbox_mis.models import CODE_INDEX, NO_MARK

_PRESENT = (CODE_INDEX["/"], CODE_INDEX["\\"])
_LATE = CODE_INDEX["L"]

#: (mean absence rate, gamma shape) for disadvantaged and other pupils. The shapes were fitted
#: so that the share of pupils at or above 10% absence is about 30% and 15%.
_ABSENCE_DISADVANTAGED = (0.10, 0.4)
_ABSENCE_OTHERS = (0.055, 1.2)
_MAX_RATE = 0.9


@dataclass(frozen=True, slots=True)
class _Event:
    """A kind of register event: which code, how long, and how often it is chosen."""

    code: str
    lengths: tuple[int, ...]  # in days, drawn uniformly; 0 means a single session
    weight_others: float
    weight_disadvantaged: float
    am_only: bool = False


#: Weights are per event, so long events (illness spells, holidays) weigh more per session.
_ABSENCES = (
    _Event("I", (1, 1, 1, 1, 2, 2, 3, 3, 4, 5), 0.62, 0.50),
    _Event("M", (0,), 0.12, 0.08),
    _Event("C", (1, 1, 2), 0.04, 0.02),
    _Event("O", (1,), 0.10, 0.20),
    _Event("G", (3, 4, 5, 5), 0.025, 0.04),
    _Event("N", (1,), 0.04, 0.06),
    _Event("U", (0,), 0.05, 0.08, am_only=True),
    _Event("E", (1, 2, 3), 0.005, 0.015),
)

#: Rare events that are not absences: (probability a student has one, event).
_OCCASIONAL = (
    (0.25, _Event("V", (1,), 0, 0)),
    (0.05, _Event("B", (0, 0, 1), 0, 0)),
    (0.005, _Event("K", (5, 10, 15), 0, 0)),
    (0.01, _Event("Y1", (1,), 0, 0)),
    (0.005, _Event("Y7", (1,), 0, 0)),
    (0.002, _Event("Q", (1, 2, 3), 0, 0)),
)


def minutes_late(code: str, student_number: int, slot: int) -> int | None:
    """Return the minutes late recorded with a mark: set for ``L`` and ``U`` only.

    Derived from the mark's position rather than stored, so marks stay one byte each. A
    register closes 30 minutes after it opens, so ``L`` is under 30 and ``U`` over.
    """
    if code == "L":
        return 1 + (student_number * 7 + slot * 13) % 25
    if code == "U":
        return 31 + (student_number * 11 + slot * 5) % 40
    return None


def generate_marks(
    rng: random.Random, *, n_days: int, first_day: int, last_day: int, disadvantaged: bool
) -> bytes:
    """Return a student's marks for ``n_days`` school days, on roll from day index
    ``first_day`` to ``last_day`` inclusive (no marks outside that window)."""
    marks = bytearray([NO_MARK]) * (2 * n_days)
    for day in range(first_day, last_day + 1):
        marks[2 * day : 2 * day + 2] = bytes(_PRESENT)
    for probability, event in _OCCASIONAL:
        if rng.random() < probability:
            _place(rng, marks, event, first_day, last_day, limit=None)
    possible = 2 * (last_day - first_day + 1)
    mean, shape = _ABSENCE_DISADVANTAGED if disadvantaged else _ABSENCE_OTHERS
    rate = min(_MAX_RATE, rng.gammavariate(shape, mean / shape))
    target = round(rate * possible)
    weights = [e.weight_disadvantaged if disadvantaged else e.weight_others for e in _ABSENCES]
    placed, attempts = 0, 0
    while placed < target and attempts < 20 * target:
        event = rng.choices(_ABSENCES, weights)[0]
        placed += _place(rng, marks, event, first_day, last_day, limit=target - placed)
        attempts += 1
    late_share = rng.gammavariate(1.0, 0.03 if disadvantaged else 0.02)
    for _ in range(round(late_share * (last_day - first_day + 1))):
        slot = 2 * rng.randint(first_day, last_day)
        if marks[slot] == _PRESENT[0]:
            marks[slot] = _LATE
    return bytes(marks)


def _place(
    rng: random.Random,
    marks: bytearray,
    event: _Event,
    first_day: int,
    last_day: int,
    *,
    limit: int | None,
) -> int:
    """Write one event over present sessions only; return how many sessions it changed."""
    code = CODE_INDEX[event.code]
    length = rng.choice(event.lengths)
    start = rng.randint(first_day, last_day)
    if length == 0:
        session = 0 if event.am_only else rng.randint(0, 1)
        slots = [2 * start + session]
    else:
        end = min(start + length, last_day + 1)
        slots = [2 * day + session for day in range(start, end) for session in (0, 1)]
    changed = 0
    for slot in slots:
        if limit is not None and changed >= limit:
            break
        if marks[slot] in _PRESENT:
            marks[slot] = code
            changed += 1
    return changed
