"""Unique pupil numbers (UPN): format and check letter, as the DfE specifies them.

A UPN is 13 characters: a check letter, the 3-digit LA number, the 4-digit establishment
number, the 2-digit year of issue and a 3-character serial whose last character is a letter
for a temporary UPN.
"""

from __future__ import annotations

import re

#: The DfE's check-letter alphabet: 23 letters, no I, O or S. Also the values of a letter in
#: position 13 of a temporary UPN (A=0 ... Z=22).
CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"

_SHAPE = re.compile(rf"^[{CHECK_ALPHABET}][0-9]{{11}}[0-9{CHECK_ALPHABET}]$")


def check_letter(body: str) -> str:
    """Return the check letter for the 12 characters that follow it (positions 2 to 13)."""
    if len(body) != 12 or not body[:11].isdigit():
        raise ValueError("a UPN body is 11 digits then a digit or a letter")
    last = body[11]
    values = [int(c) for c in body[:11]]
    values.append(int(last) if last.isdigit() else CHECK_ALPHABET.index(last))
    total = sum(value * position for position, value in enumerate(values, start=2))
    return CHECK_ALPHABET[total % 23]


def upn_problem(upn: str) -> str | None:
    """Say what is wrong with a UPN, or return None when it is valid.

    The message never repeats the UPN itself, so it is safe to log.
    """
    if len(upn) != 13:
        return f"a UPN has 13 characters, this one has {len(upn)}"
    if not _SHAPE.match(upn):
        return "a UPN is a check letter, 11 digits, then a digit or a letter (no I, O or S)"
    if check_letter(upn[1:]) != upn[0]:
        return "the check letter does not match the rest of the UPN"
    return None


def is_valid_upn(upn: str) -> bool:
    """Return True when the UPN has the right shape and check letter."""
    return upn_problem(upn) is None


def make_upn(la_code: int, establishment: int, year_issued: int, serial: int) -> str:
    """Build a permanent UPN with its check letter (used for synthetic data only)."""
    body = f"{la_code:03d}{establishment:04d}{year_issued % 100:02d}{serial:03d}"
    return check_letter(body) + body
