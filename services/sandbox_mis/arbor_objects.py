"""The small Arbor resources hanging off each student, built once per school.

Each resource is a list of ``(owner's Arbor student id, object)`` in id order, so the index can
give every object a ``create`` change at its student's creation. Ids are positions from 1 in
the resource (a person's id is the student's plus ``PERSON_ID_OFFSET``, as in the wire module).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox_mis import arbor_wire as wire
from sandbox_mis.models import Student

#: The resources built here, each with its entity type (the ``entityType`` of its objects).
ENTITY_TYPES: dict[str, str] = {
    "persons": "Person",
    "ukdfe-upn-assignments": "UkDfe_UpnAssignment",
    "ukdfe-free-school-meal-eligibilities": "UkDfe_FreeSchoolMealEligibility",
    "ukdfe-pupil-premium-recipients": "UkDfe_PupilPremiumRecipient",
    "in-care-status-assignments": "InCareStatusAssignment",
}

Owned = list[tuple[int, dict[str, Any]]]


def satellites(live: list[Student], ids: Mapping[str, int], start_year: int) -> dict[str, Owned]:
    """Return each satellite resource's objects, with their owners, for the live students."""
    fsm = [(ids[s.id], p) for s in live for p in wire.fsm_periods(s, ids[s.id], start_year)]
    premium = [(ids[s.id], kind) for s in live for kind in wire.premium_types(s)]
    cared = [s for s in live if s.in_lea_care or s.ever_in_care]
    return {
        "persons": [(ids[s.id], wire.person(s, ids[s.id])) for s in live],
        "ukdfe-upn-assignments": [
            (ids[s.id], wire.upn_assignment(s, ids[s.id], n)) for n, s in enumerate(live, 1)
        ],
        "ukdfe-free-school-meal-eligibilities": [
            (sid, wire.fsm_eligibility(sid, n, period)) for n, (sid, period) in enumerate(fsm, 1)
        ],
        "ukdfe-pupil-premium-recipients": [
            (sid, wire.premium_recipient(sid, n, kind, start_year))
            for n, (sid, kind) in enumerate(premium, 1)
        ],
        "in-care-status-assignments": [
            (ids[s.id], wire.care_assignment(s, ids[s.id], n, start_year))
            for n, s in enumerate(cared, 1)
        ],
    }


def added(
    resource: str, object_id: int, student_id: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Return an object added to ``resource`` at run time: its reference, owner and ``fields``."""
    return {
        **wire.ref(ENTITY_TYPES[resource], resource, object_id),
        "student": wire.ref("Student", "students", student_id),
        **fields,
    }
