"""The academic calendar of the sandbox: English term dates giving exactly 190 school days.

The dates follow the common local-authority pattern (autumn from the first Wednesday of
September, a week at each half term, two weeks at Christmas and Easter, the May bank holidays)
and the summer term runs until the 190th day, which falls in the second half of July. Real
schools meet for 195 days of which 5 are INSET days without pupils: two before the first
Wednesday in September and one at the start of the terms after October half term, Christmas
and Easter. The sandbox returns only the 190 days with pupils, i.e. 380 sessions.
"""

from __future__ import annotations

from datetime import date, timedelta

#: Days with pupils in an English school year (380 morning and afternoon sessions).
SCHOOL_DAYS_PER_YEAR = 190


def easter_sunday(year: int) -> date:
    """Return Easter Sunday of ``year`` (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """Return the n-th (1-based) ``weekday`` (Monday=0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    """Return the last ``weekday`` (Monday=0) of a month."""
    after = date(year + month // 12, month % 12 + 1, 1)
    last = after - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _week(monday: date) -> set[date]:
    return {monday + timedelta(days=n) for n in range(5)}


def _closures(start_year: int) -> set[date]:
    """Return the weekdays of the holidays that fall inside the academic year."""
    end_year = start_year + 1
    closed = _week(_last_weekday(start_year, 10, 0))  # October half term
    # The autumn term ends on the Friday between 16 and 22 December.
    christmas_start = date(start_year, 12, 22)
    christmas_start -= timedelta(days=(christmas_start.weekday() - 4) % 7 - 1)
    spring_start = date(end_year, 1, 5)
    while spring_start.weekday() >= 5:
        spring_start += timedelta(days=1)
    closed |= {
        christmas_start + timedelta(days=n) for n in range((spring_start - christmas_start).days)
    }
    closed |= _week(_nth_weekday(end_year, 2, 0, 3))  # February half term
    easter = easter_sunday(end_year)
    closed |= _week(easter - timedelta(days=6)) | _week(easter + timedelta(days=1))
    closed.add(_nth_weekday(end_year, 5, 0, 1))  # early May bank holiday
    closed |= _week(_last_weekday(end_year, 5, 0))  # spring bank holiday and half term
    # Three of the five INSET days; the other two precede the Wednesday start in September.
    closed |= {
        _last_weekday(start_year, 10, 0) + timedelta(days=7),
        spring_start,
        easter + timedelta(days=8),
    }
    return closed


def school_days(start_year: int) -> list[date]:
    """Return the 190 school days of academic year ``start_year``/``start_year + 1``.

    >>> days = school_days(2025)
    >>> len(days), days[0].isoformat(), days[-1].month
    (190, '2025-09-03', 7)
    """
    day = _nth_weekday(start_year, 9, 2, 1)  # first Wednesday of September
    closed = _closures(start_year)
    days: list[date] = []
    while len(days) < SCHOOL_DAYS_PER_YEAR:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += timedelta(days=1)
    return days
