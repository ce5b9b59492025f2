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
