"""Deterministic synthetic students for the demo trust (all names and numbers are made up).

Every random draw comes from a ``random.Random`` seeded with the dataset seed, the school id
and the student's position, so a student's record does not depend on any other school or on
the order things are generated in. Rates follow national figures: see the README.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache

from sandbox_mis.calendar import school_days
from sandbox_mis.marks import generate_marks
from sandbox_mis.models import NO_MARK, Dataset, FlagStyle, School, Student
from sandbox_mis.names import ETHNICITIES, FORENAMES_F, FORENAMES_M, SURNAMES
from trustdata.domain.upn import make_upn

#: The bearer token every demo school accepts.
DEMO_TOKEN = "sandbox-demo-token"  # noqa: S105 (a public demo value, not a secret)


@dataclass(frozen=True, slots=True)
class _Spec:
    id: str
    name: str
    urn: int
    la_code: int
    establishment: int
    phase: str
    pupils: int
    flag_style: FlagStyle


DEMO_SCHOOLS = (
    _Spec(
        "A1000000001", "Oakfield Primary Academy", 990001, 990, 2001, "primary", 420, FlagStyle.BOOL
    ),
    _Spec("A1000000002", "Ashbrook Academy", 990002, 990, 4001, "secondary", 1100, FlagStyle.YN),
    _Spec(
        "A1000000003", "Elmstead Primary Academy", 990003, 991, 2002, "primary", 350, FlagStyle.TF
    ),
    _Spec(
        "A1000000004", "Yewtree Academy", 990004, 991, 4002, "secondary", 1150, FlagStyle.ONE_ZERO
    ),
)

#: Relative size of each year group (0 is Reception); sixth forms are smaller than Y7-Y11.
_YEAR_WEIGHTS = {
    "primary": {year: 1.0 for year in range(7)},
    "secondary": {year: 1.0 if year <= 11 else 0.55 for year in range(7, 14)},
}


def generate(
    *, seed: int = 2025, scale: float = 1.0, start_year: int = 2025, academies: int = 4
) -> Dataset:
    """Generate the demo trust's dataset: four academies, about 3,000 pupils at scale 1.0.

    ``academies`` above four adds academies modelled on the demo four in turn (a large trust
    for benchmarks: ``scale`` alone cannot pass 999 UPNs per year group in one school); the
    first four are the same whatever the count.
    """
    if scale <= 0:
        raise ValueError("scale must be greater than 0")
    if academies < 1:
        raise ValueError("academies must be at least 1")
    days = school_days(start_year)
    taken_ids: set[str] = set()
    schools = [_school(spec, seed, scale, days, taken_ids) for spec in school_specs(academies)]
    return Dataset(start_year=start_year, school_days=days, schools=schools)


def school_specs(academies: int) -> list[_Spec]:
    """The demo schools, then copies of them with their own ids, URNs and DfE numbers."""
    specs = list(DEMO_SCHOOLS[:academies])
    for k in range(len(DEMO_SCHOOLS), academies):
        model = DEMO_SCHOOLS[k % len(DEMO_SCHOOLS)]
        generation = k // len(DEMO_SCHOOLS)
        specs.append(
            _Spec(
                id=f"A{1000000001 + k}",
                name=f"{model.name} {generation + 1}",
                urn=990001 + k,
                la_code=model.la_code,
                # Each model school's LA numbers its copies on from it: LAESTABs stay unique.
                establishment=model.establishment + generation,
                phase=model.phase,
                pupils=model.pupils,
                flag_style=model.flag_style,
            )
        )
    return specs


def year_counts(phase: str, total: int) -> dict[int, int]:
    """Split ``total`` pupils over the year groups of a phase (largest remainders)."""
    weights = _YEAR_WEIGHTS[phase]
    shares = {year: total * w / sum(weights.values()) for year, w in weights.items()}
    counts = {year: int(share) for year, share in shares.items()}
    by_remainder = sorted(shares, key=lambda year: (counts[year] - shares[year], year))
    for year in by_remainder[: total - sum(counts.values())]:
        counts[year] += 1
    return counts


def _school(spec: _Spec, seed: int, scale: float, days: list[date], taken_ids: set[str]) -> School:
    total = max(5, round(spec.pupils * scale))
    school_rng = _rng(seed, spec.id)
    movers = max(1, round(0.03 * total))
    moving = school_rng.sample(range(total), 2 * movers + max(1, round(0.03 * total)))
    joiners, leavers, changed = (
        set(moving[:movers]),
        set(moving[movers : 2 * movers]),
        set(moving[2 * movers :]),
    )
    school = School(
        id=spec.id,
        name=spec.name,
        urn=spec.urn,
        la_code=f"{spec.la_code:03d}",
        establishment_number=f"{spec.establishment:04d}",
        phase=spec.phase,
        token=DEMO_TOKEN,
        flag_style=spec.flag_style,
    )
    serials: dict[int, int] = {}
    n = 0
    for nc_year, count in year_counts(spec.phase, total).items():
        for _ in range(count):
            rng = _rng(seed, spec.id, n)
            student = _student(rng, spec, seed, nc_year, n, days, serials, taken_ids)
            if n in joiners:
                _join_mid_year(rng, student, days)
            elif n in leavers:
                _leave_mid_year(rng, student, days)
            elif n in changed:
                student.updated_at = _at(days[rng.randint(5, len(days) - 5)], 11, rng)
            _attend(rng, student, days)
            school.students.append(student)
            n += 1
    for k in range(max(2, round(5 * min(scale, 1.0)))):
        rng = _rng(seed, spec.id, "deleted", k)
        nc_year = rng.choice(sorted(_YEAR_WEIGHTS[spec.phase]))
        student = _student(rng, spec, seed, nc_year, total + k, days, serials, taken_ids)
        _delete(rng, student, days)
        school.students.append(student)
    return school


def _student(
    rng: random.Random,
    spec: _Spec,
    seed: int,
    nc_year: int,
    n: int,
    days: list[date],
    serials: dict[int, int],
    taken_ids: set[str],
) -> Student:
    """Draw one student on roll all year (the caller adjusts movers and deletions)."""
    student_id = f"B{rng.randrange(10**9, 10**10)}"
    while student_id in taken_ids:
        student_id = f"B{rng.randrange(10**9, 10**10)}"
    taken_ids.add(student_id)
    entry_year = days[0].year - nc_year  # the September the pupil started Reception
    serials[entry_year] = serials.get(entry_year, 0) + 1
    if serials[entry_year] > 999:
        raise ValueError("scale too large: more than 999 UPNs in one year group")
    born_from = date(entry_year - 5, 9, 1)  # aged 4 on the 31 August before Reception
    gender = rng.choice("MF")
    fsm6 = rng.random() < (0.25 if spec.phase == "primary" else 0.27)
    in_care = rng.random() < 0.005
    sen = rng.random()
    joined_year = days[0].year - (nc_year - 7 if spec.phase == "secondary" else nc_year)
    created = _at(days[0] - timedelta(days=3), 2, None)
    return Student(
        id=student_id,
        upi=hashlib.blake2b(f"{seed}:{student_id}".encode(), digest_size=16).hexdigest(),
        mis_id=str(1000 + n),
        forename=rng.choice(FORENAMES_M if gender == "M" else FORENAMES_F),
        surname=rng.choice(SURNAMES),
        gender=gender,
        date_of_birth=born_from + timedelta(days=rng.randrange(365)),
        upn=make_upn(spec.la_code, spec.establishment, entry_year, serials[entry_year]),
        nc_year=nc_year,
        admission_date=_first_day(joined_year) if joined_year < days[0].year else days[0],
        leaving_date=None,
        sen_status="E" if sen < 0.02 else "K" if sen < 0.15 else "N",
        free_school_meals=fsm6 and rng.random() < 0.8,
        free_school_meals_6=fsm6,
        in_lea_care=in_care,
        ever_in_care=not in_care and rng.random() < 0.005,
        eal=rng.random() < 0.2,
        service_child=rng.random() < 0.01,
        ethnicity=rng.choices(list(ETHNICITIES), list(ETHNICITIES.values()))[0],
        created_at=created,
        updated_at=created,
    )


def _rng(*parts: object) -> random.Random:
    """Return a generator seeded from ``parts`` (a string seed is hashed, so it is stable)."""
    return random.Random(":".join(map(str, parts)))  # noqa: S311 (synthetic data, not secrets)


@cache
def _first_day(start_year: int) -> date:
    return school_days(start_year)[0]


def _at(day: date, hour: int, rng: random.Random | None) -> datetime:
    """Return a time on ``day`` in ``hour``, at a random minute when ``rng`` is given."""
    if rng is None:
        return datetime.combine(day, time(hour))
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))


def _join_mid_year(rng: random.Random, student: Student, days: list[date]) -> None:
    student.admission_date = days[rng.randint(10, len(days) - 20)]
    student.created_at = _at(student.admission_date - timedelta(days=rng.randint(1, 7)), 10, rng)
    student.updated_at = student.created_at


def _leave_mid_year(rng: random.Random, student: Student, days: list[date]) -> None:
    student.leaving_date = days[rng.randint(10, len(days) - 10)]
    student.updated_at = _at(student.leaving_date, 16, rng)


def _delete(rng: random.Random, student: Student, days: list[date]) -> None:
    """Make a record entered in error: created mid-year, deleted days later, never marked."""
    created_on = rng.randint(5, len(days) - 20)
    student.admission_date = days[created_on]
    student.created_at = _at(days[created_on], 9, rng)
    student.deleted_at = _at(days[created_on + rng.randint(1, 10)], 15, rng)
    student.updated_at = student.deleted_at
    student.marks = bytes([NO_MARK]) * (2 * len(days))


def _attend(rng: random.Random, student: Student, days: list[date]) -> None:
    first = days.index(student.admission_date) if student.admission_date >= days[0] else 0
    last = days.index(student.leaving_date) if student.leaving_date else len(days) - 1
    student.marks = generate_marks(
        rng, n_days=len(days), first_day=first, last_day=last, disadvantaged=student.disadvantaged
    )
