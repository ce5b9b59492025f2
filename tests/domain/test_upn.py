"""UPN check letters, checked against python-stdnum as an independent oracle."""

from __future__ import annotations

import random

from stdnum.gb import upn as stdnum_upn

from trustdata.domain.upn import check_letter, is_valid_upn, make_upn, upn_problem


def test_public_vector_has_wrong_check_letter() -> None:
    # The published vector B207000016049 is invalid. Its right letter is P: the reference
    # note says Q, but its own formula and stdnum both give P (2*2+4*7+9*1+10*6+12*4+13*9=266,
    # 266 mod 23 = 13 -> P).
    assert not is_valid_upn("B207000016049")
    assert check_letter("207000016049") == "P"
    assert stdnum_upn.is_valid("P207000016049")


def test_agrees_with_stdnum_on_random_bodies() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(11))
        body += rng.choice("0123456789ABCDEFGHJKLMNPQRTUVWXYZ")
        assert check_letter(body) == stdnum_upn.calc_check_digit(body)


def test_problems_are_named_without_echoing_the_upn() -> None:
    assert upn_problem("A12") == "a UPN has 13 characters, this one has 3"
    assert "check letter" in (upn_problem("B207000016049") or "")
    assert upn_problem("I207000016049") is not None  # I is never a check letter
    assert is_valid_upn(make_upn(990, 2001, 25, 17))
