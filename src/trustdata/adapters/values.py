"""Value spellings shared by adapters: the same flag is written many ways across MIS feeds."""

from __future__ import annotations

from typing import Any

_TRUE = {True, "1", "true", "t", "y", "yes"}
_FALSE = {False, "0", "false", "f", "n", "no"}


def parse_flag(value: Any) -> bool | None:
    """Read a yes/no flag in any of the spellings MIS feeds use; unknown spellings give None."""
    key = value.strip().lower() if isinstance(value, str) else value
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_nc_year(value: Any) -> int | None:
    """National curriculum year from "5", "Year 5", "Y5", "R" or "N2"; unknown spellings: None.

    Reception is 0 and nursery -1, so years sort in school order.
    """
    if value is None:
        return None
    key = str(value).strip().upper().removeprefix("YEAR").removeprefix("Y").strip()
    if key in {"R", "REC", "RECEPTION"}:
        return 0
    if key in {"N", "N1", "N2", "NURSERY"}:
        return -1
    return int(key) if key.lstrip("-").isdigit() else None


def parse_eal(value: Any) -> bool | None:
    """EAL as a flag, or from a first-language status ("Other than English", "English")."""
    flag = parse_flag(value)
    if flag is not None or not isinstance(value, str):
        return flag
    key = value.strip().lower().removeprefix("believed to be ")
    if key.startswith("other"):
        return True
    if key.startswith("english"):
        return False
    return None
