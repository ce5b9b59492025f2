"""The national code table is read with the rules in force on the mark's date."""

from __future__ import annotations

from datetime import date

from trustdata.domain.codes import Category, national_code_table

BEFORE = date(2024, 8, 18)
AFTER = date(2024, 8, 19)


def test_codes_change_on_19_august_2024() -> None:
    table = national_code_table()
    for retired in ("H", "J", "Y"):
        assert table.lookup(retired, BEFORE) is not None
        assert table.lookup(retired, AFTER) is None
    for added in ("K", "C1", "C2", "J1", "Q", "Y1", "Y7"):
        assert table.lookup(added, BEFORE) is None
        assert table.lookup(added, AFTER) is not None


def test_traps_are_categorised_as_the_dfe_does() -> None:
    table = national_code_table()
    unauthorised_u = table.lookup("U", AFTER)
    assert unauthorised_u is not None
    assert unauthorised_u.category is Category.UNAUTHORISED_ABSENCE
    for not_possible in ("D", "Q", "X", "Y1", "Z", "#"):
        found = table.lookup(not_possible, AFTER)
        assert found is not None and not found.counts_as_possible
    assert table.lookup("\\", AFTER) is not None
    assert table.lookup("ZZ", AFTER) is None
