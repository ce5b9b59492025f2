"""FSM and FSM6 as at a date, with Universal Credit transitional protection."""

from __future__ import annotations

from datetime import date

from trustdata.domain.disadvantage import fsm_flags, six_years_before

AS_AT = date(2026, 1, 15)


def test_open_period_is_current_and_fsm6() -> None:
    assert fsm_flags([(date(2025, 9, 1), None)], AS_AT) == (True, True)


def test_ended_period_since_april_2018_still_counts_as_fsm6() -> None:
    # Ended more than six years before the date, but after 1 April 2018: protected.
    assert fsm_flags([(date(2018, 1, 1), date(2019, 3, 1))], AS_AT) == (False, True)


def test_period_that_ended_before_the_window_does_not_count() -> None:
    assert fsm_flags([(date(2012, 1, 1), date(2018, 3, 31))], AS_AT) == (False, False)
    # In 2030 protection still reaches back to April 2018: a 2019-2020 period counts.
    assert fsm_flags([(date(2019, 1, 1), date(2020, 1, 1))], date(2030, 1, 15)) == (False, True)


def test_future_period_counts_for_neither_and_no_periods_is_false() -> None:
    assert fsm_flags([(date(2026, 2, 1), None)], AS_AT) == (False, False)
    assert fsm_flags([], AS_AT) == (False, False)


def test_six_years_before_a_leap_day() -> None:
    assert six_years_before(date(2028, 2, 29)) == date(2022, 2, 28)
