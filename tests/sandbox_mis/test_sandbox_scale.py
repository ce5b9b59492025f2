"""A large trust in the sandbox: more academies than the demo four, and marks rendered fast."""

from __future__ import annotations

import json

from sandbox_mis.dataset import generate
from sandbox_mis.index import SchoolIndex


def test_extra_academies_copy_the_demo_four_with_their_own_identities() -> None:
    four = generate(scale=0.02)
    six = generate(scale=0.02, academies=6)
    assert six.schools[:4] == four.schools
    assert len({s.id for s in six.schools}) == len({s.urn for s in six.schools}) == 6
    assert len({(s.la_code, s.establishment_number) for s in six.schools}) == 6
    upns = [p.upn for s in six.schools for p in s.students]
    assert len(upns) == len(set(upns))
    assert [s.phase for s in six.schools[4:]] == ["primary", "secondary"]


def test_rendered_marks_are_the_json_of_the_mark_objects() -> None:
    dataset = generate(scale=0.02)
    for position, school in enumerate(dataset.schools, start=1):
        index = SchoolIndex(school, dataset.school_days, position)
        windows = [
            index.window(updated_after=None, start_date=None, end_date=None),
            index.window(
                updated_after=None,
                start_date=dataset.school_days[5],
                end_date=dataset.school_days[30],
            ),
        ]
        for window in windows:
            for offset in range(0, index.count(window) + 400, 337):
                expected = json.dumps(index.marks(window, offset, 337), separators=(",", ":"))
                assert f"[{index.marks_json(window, offset, 337)}]" == expected
