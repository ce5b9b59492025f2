"""Free school meals eligibility as the DfE's disadvantage measures read it.

FSM6: eligible at any point in the six years before the date. Because of Universal Credit
transitional protection, a pupil eligible at any time since 1 April 2018 keeps eligibility, so
any FSM period reaching 1 April 2018 or later also counts (see shared reference README).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

#: Universal Credit transitional protection for FSM starts here.
PROTECTED_SINCE = date(2018, 4, 1)


def six_years_before(day: date) -> date:
    """The same calendar day six years earlier (28 Feb for a 29 Feb)."""
    try:
        return day.replace(year=day.year - 6)
    except ValueError:
        return day.replace(year=day.year - 6, day=28)


def fsm_flags(periods: Iterable[tuple[date | None, date | None]], as_at: date) -> tuple[bool, bool]:
    """(FSM eligible on ``as_at``, FSM6 on ``as_at``) from (start, end) eligibility periods.

    A period not yet started on ``as_at`` counts for neither; an open end means still eligible.
    """
    since = min(six_years_before(as_at), PROTECTED_SINCE)
    current = fsm6 = False
    for start, end in periods:
        if start is not None and start > as_at:
            continue
        current |= end is None or end >= as_at
        fsm6 |= end is None or end >= since
    return current, fsm6
