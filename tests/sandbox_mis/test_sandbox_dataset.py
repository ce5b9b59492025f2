"""The sandbox dataset: calendar, determinism, file format and the figures at scale 1.0."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from sandbox_mis.calendar import school_days
from sandbox_mis.dataset import DEMO_TOKEN, Dataset, Student, dump, generate, load
from sandbox_mis.models import MARK_CODES, NO_MARK
from sandbox_mis.testing import running_sandbox
from trustdata.domain.codes import Category, national_code_table
from trustdata.domain.upn import is_valid_upn

EXAMPLE = Path(__file__).parents[2] / "services" / "sandbox_mis" / "examples" / "tiny.json"


@pytest.fixture(scope="module")
def full() -> Dataset:
    return generate(scale=1.0)


@pytest.mark.parametrize("start_year", [2024, 2025, 2026, 2030])
def test_calendar_has_190_weekdays_from_september_to_july(start_year: int) -> None:
    days = school_days(start_year)
    assert len(days) == len(set(days)) == 190
    assert all(day.weekday() < 5 for day in days)
    assert days == sorted(days)
    assert days[0].month == 9 and days[0].year == start_year
    assert days[-1].month == 7 and days[-1].day >= 14


def test_calendar_closes_for_christmas_and_easter() -> None:
    days = set(school_days(2025))
    assert date(2025, 12, 24) not in days and date(2026, 4, 3) not in days  # Good Friday
    assert date(2026, 5, 25) not in days  # spring bank holiday


def test_generate_is_deterministic() -> None:
    assert generate(scale=0.05) == generate(scale=0.05)
    assert generate(scale=0.05, seed=1) != generate(scale=0.05)


def test_small_scale_still_has_pupils_in_every_school() -> None:
    dataset = generate(scale=0.001)
    assert all(len(school.students) >= 5 for school in dataset.schools)


def test_dump_then_load_round_trips(tmp_path: Path) -> None:
    dataset = generate(scale=0.02)
    dump(dataset, tmp_path / "dataset.json")
    assert load(tmp_path / "dataset.json") == dataset


def test_example_file_loads_and_serves() -> None:
    dataset = load(EXAMPLE)
    with (
        running_sandbox(dataset) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as c,
    ):
        body = c.get("/schools/A1000000001/attendance/session").json()
    assert len(body["data"]) == 16  # 10 + 6 sessions; the deleted record has none


def test_load_names_the_problem(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(" L ", " XX ", 1)
    (tmp_path / "bad.json").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"schools\[0\]\.students\[0\]\.marks: unknown codes"):
        load(tmp_path / "bad.json")


def live(dataset: Dataset) -> list[tuple[str, Student]]:
    return [(s.phase, p) for s in dataset.schools for p in s.students if p.deleted_at is None]


def test_pupil_counts_at_full_scale(full: Dataset) -> None:
    counts = {school.id: len(school.students) for school in full.schools}
    assert 2900 <= sum(counts.values()) <= 3150
    assert 400 <= counts["A1000000001"] <= 440 and 1080 <= counts["A1000000002"] <= 1120
    pupils = live(full)
    movers = [p for _, p in pupils if p.leaving_date or p.admission_date > full.school_days[0]]
    assert 0.04 <= len(movers) / len(pupils) <= 0.08


def test_full_year_pupils_have_380_marks(full: Dataset) -> None:
    for _, pupil in live(full):
        on_roll = sum(mark != NO_MARK for mark in pupil.marks)
        if pupil.leaving_date is None and pupil.admission_date <= full.school_days[0]:
            assert on_roll == 380
        else:
            assert 0 < on_roll < 380


@pytest.mark.parametrize(("phase", "share"), [("primary", 0.25), ("secondary", 0.27)])
def test_fsm6_share(full: Dataset, phase: str, share: float) -> None:
    pupils = [p for ph, p in live(full) if ph == phase]
    assert abs(sum(p.free_school_meals_6 for p in pupils) / len(pupils) - share) < 0.035
    fsm6 = [p for p in pupils if p.free_school_meals_6]
    assert 0.7 < sum(p.free_school_meals for p in fsm6) / len(fsm6) < 0.9
    assert not any(p.free_school_meals and not p.free_school_meals_6 for p in pupils)


def test_absence_by_disadvantage(full: Dataset) -> None:
    table = national_code_table()
    category = [table.lookup(code, full.school_days[0]) for code in MARK_CODES]
    absent = {Category.AUTHORISED_ABSENCE, Category.UNAUTHORISED_ABSENCE}
    totals = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}  # possible, absent, pupils, persistent
    for _, pupil in live(full):
        cats = [category[m].category for m in pupil.marks if m != NO_MARK]  # type: ignore[union-attr]
        possible = sum(c is not Category.NOT_POSSIBLE for c in cats)
        absences = sum(c in absent for c in cats)
        row = totals[pupil.disadvantaged]
        row[0] += possible
        row[1] += absences
        row[2] += 1
        row[3] += absences >= 0.1 * possible
    assert abs(totals[True][1] / totals[True][0] - 0.10) < 0.015
    assert abs(totals[False][1] / totals[False][0] - 0.055) < 0.01
    assert abs(totals[True][3] / totals[True][2] - 0.30) < 0.06
    assert abs(totals[False][3] / totals[False][2] - 0.15) < 0.04


def test_students_over_http_have_valid_unique_upns(full: Dataset) -> None:
    upns: list[str] = []
    with (
        running_sandbox(full) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as c,
    ):
        for school in full.schools:
            for kind in ("students", "students-leaver"):
                url: str | None = f"/schools/{school.id}/{kind}"
                params: dict[str, str] | None = {"include": "education_details", "per_page": "1000"}
                while url:
                    body = c.get(url, params=params).json()
                    upns += [row["education_details"]["data"]["upn"] for row in body["data"]]
                    url, params = body["meta"]["pagination"]["next"], None
    assert len(upns) == len(live(full))
    assert all(is_valid_upn(upn) for upn in upns)
    assert len(set(upns)) == len(upns)


def test_date_of_birth_matches_nc_year(full: Dataset) -> None:
    for _, pupil in live(full):
        age_on_31_august = (
            full.start_year - pupil.date_of_birth.year - (pupil.date_of_birth.month >= 9)
        )
        assert age_on_31_august == pupil.nc_year + 4
