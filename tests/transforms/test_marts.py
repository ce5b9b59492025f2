"""End-to-end tests of the dbt project: a hand-built cohort in, mart_attendance_gap out.

Runs in the session's warehouse database (tests/conftest.py): the module empties the tables dbt
reads, loads this cohort, builds once, and empties them again (and drops the dbt schemas) when it
is done, so the mart totals depend on this cohort only. All pupils are synthetic.

The cohort (academic year 2025-26 unless stated; "poss" = possible sessions, "att" = attended):

Trust T1, hub HN (academies A1, A3), hub HS (academy A2).

A1
  P1 FSM6 (disadvantaged), age 10: / \\ L N I D      -> poss 5 (D not possible), att 3 (/ \\ L)
  P2 CLA (disadvantaged):          V U Y1 /          -> poss 3 (Y1 not possible), att 2 (V /;
                                                        U is present but unauthorised absence)
  P3 service child (NOT disadv.):  / / Q I           -> poss 3 (Q not possible), att 2
  P4 FSM6 but aged 4 on 31 Aug 2025: X N             -> not in the headline cohort
  P5 other, left on 2025-09-30:    L / #             -> poss 2 (# not possible), att 2
  => disadvantaged 8 poss / 5 att = 62.50; other 5 / 4 = 80.00; gap -17.50
A2
  Q1 PLAC (disadvantaged):         / N /             -> poss 3, att 2
  Q2 flags all NULL (other):       / G M             -> poss 3, att 1
  Q3 aged 16 on 31 Aug 2025:       N N               -> not in the headline cohort
  => disadvantaged 3 / 2 = 66.666..% -> 66.67; other 3 / 1 = 33.333..% -> 33.33;
     gap 33.333.. -> 33.33 (the rounded rates would give 33.34: the gap uses unrounded rates)
A3
  R1 other:                        / /               -> poss 2, att 2
  R2 other, dual registered only:  D D               -> poss 0: not counted as a pupil
  => disadvantaged none (rate NULL, gap NULL); other 2 / 2 = 100.00
Hub HN = A1 + A3: disadvantaged 8 / 5 = 62.50; other 7 / 6 = 85.714.. -> 85.71;
  gap 62.5 - 85.714.. = -23.214.. -> -23.21
Hub HS = A2.
Trust T1: disadvantaged 11 / 7 = 63.636.. -> 63.64; other 10 / 7 = 70.00; gap -6.363.. -> -6.36
  (an average of the academy rates would give 64.58 for disadvantaged pupils: it must not).

2023-24 (old code set): P1 at A1: H / Y (H and Y retired on 19 Aug 2024; Y on 18 Aug 2024 is
  still valid) -> poss 2 (Y not possible), att 1 = 50.00; no other pupils -> rate NULL, gap NULL.
  Rows for A1, HN and T1 only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import Engine, make_url

from tests.helpers import insert_marks
from trustdata.warehouse import tables
from trustdata.warehouse.dbt import DbtRunError, run_dbt
from trustdata.warehouse.engine import get_engine, psycopg_conninfo
from trustdata.warehouse.migrate import upgrade

BATCH = uuid.UUID("00000000-0000-0000-0000-000000000001")

# (academy, upn, date_of_birth, fsm6, in_care, previously_in_care, service_child, leaving_date)
PUPILS = [
    ("A1", "P000000000001", date(2015, 3, 1), True, False, False, False, None),
    ("A1", "P000000000002", date(2014, 6, 1), False, True, False, False, None),
    ("A1", "P000000000003", date(2013, 1, 20), False, False, False, True, None),
    ("A1", "P000000000004", date(2021, 1, 15), True, False, False, False, None),
    ("A1", "P000000000005", date(2012, 11, 5), False, False, False, False, date(2025, 9, 30)),
    ("A2", "Q000000000001", date(2011, 4, 2), False, False, True, False, None),
    ("A2", "Q000000000002", date(2011, 5, 3), None, None, None, None, None),
    ("A2", "Q000000000003", date(2009, 8, 31), False, False, False, False, None),
    ("A3", "R000000000001", date(2016, 2, 2), False, False, False, False, None),
    ("A3", "R000000000002", date(2016, 3, 3), False, False, False, False, None),
]

# (academy, upn) -> [(date, AM code, PM code)]; None = no mark in that session.
MARKS: dict[tuple[str, str], list[tuple[date, str | None, str | None]]] = {
    ("A1", "P000000000001"): [
        (date(2025, 9, 8), "/", "\\"),
        (date(2025, 9, 9), "L", "N"),
        (date(2025, 9, 10), "I", "D"),
        (date(2024, 3, 11), "H", "/"),
        (date(2024, 8, 18), "Y", None),
    ],
    ("A1", "P000000000002"): [(date(2025, 9, 8), "V", "U"), (date(2025, 9, 9), "Y1", "/")],
    ("A1", "P000000000003"): [(date(2025, 9, 8), "/", "/"), (date(2025, 9, 9), "Q", "I")],
    ("A1", "P000000000004"): [(date(2025, 9, 8), "X", "N")],
    ("A1", "P000000000005"): [(date(2025, 9, 8), "L", "/"), (date(2025, 9, 9), "#", None)],
    ("A2", "Q000000000001"): [(date(2025, 9, 8), "/", "N"), (date(2025, 9, 9), "/", None)],
    ("A2", "Q000000000002"): [(date(2025, 9, 8), "/", "G"), (date(2025, 9, 9), "M", None)],
    ("A2", "Q000000000003"): [(date(2025, 9, 8), "N", "N")],
    ("A3", "R000000000001"): [(date(2025, 9, 8), "/", "/")],
    ("A3", "R000000000002"): [(date(2025, 9, 8), "D", "D")],
}


def _seed_cohort(engine: Engine) -> None:
    academy = {"urn": "100000", "phase": "primary", "adapter_kind": "wonde", "trust_id": "T1"}
    with engine.begin() as conn:
        conn.execute(insert(tables.trust), [{"trust_id": "T1", "name": "Test Trust"}])
        conn.execute(
            insert(tables.hubs),
            [
                {"hub_id": "HN", "trust_id": "T1", "name": "North"},
                {"hub_id": "HS", "trust_id": "T1", "name": "South"},
            ],
        )
        conn.execute(
            insert(tables.academies),
            [
                {**academy, "academy_id": "A1", "hub_id": "HN", "name": "Academy One"},
                {**academy, "academy_id": "A2", "hub_id": "HS", "name": "Academy Two"},
                {**academy, "academy_id": "A3", "hub_id": "HN", "name": "Academy Three"},
            ],
        )
        keys: tuple[str, ...] = ("academy_id", "upn", "date_of_birth", "fsm6", "in_care")
        keys += ("previously_in_care", "service_child", "leaving_date")
        conn.execute(
            insert(tables.pupils),
            [dict(zip(keys, p, strict=True)) | {"mis_id": p[1], "batch_id": BATCH} for p in PUPILS],
        )
        insert_marks(
            conn,
            [
                _mark(academy_id, upn, day, session, code)
                for (academy_id, upn), days in MARKS.items()
                for day, am, pm in days
                for session, code in (("AM", am), ("PM", pm))
                if code is not None
            ],
        )


# Withdrawn rows (the MIS corrected the pupil's set since) must not reach staging.
WITHDRAWN = datetime(2025, 10, 1, tzinfo=UTC)
ENROLMENTS = [
    ("A1", "P000000000001", date(2021, 9, 1), None, "single", None),
    ("A1", "P000000000001", date(2021, 9, 6), None, None, WITHDRAWN),
    ("A1", "P000000000005", date(2020, 9, 1), date(2025, 9, 30), "main", None),
]
PERIODS = [
    ("A1", "P000000000001", "fsm", date(2019, 1, 7), None, None),
    ("A1", "P000000000002", "cla", date(2023, 5, 2), None, None),
    ("A1", "P000000000002", "fsm", date(2023, 5, 2), None, WITHDRAWN),
]


def _seed_histories(engine: Engine) -> None:
    common = {"batch_id": BATCH}
    with engine.begin() as conn:
        keys = ("academy_id", "upn", "start_date", "end_date", "registration", "withdrawn_at")
        conn.execute(
            insert(tables.enrolments),
            [dict(zip(keys, e, strict=True)) | {"mis_id": e[1], **common} for e in ENROLMENTS],
        )
        keys = ("academy_id", "upn", "characteristic", "start_date", "end_date", "withdrawn_at")
        conn.execute(
            insert(tables.characteristic_periods),
            [dict(zip(keys, c, strict=True)) | {"mis_id": c[1], **common} for c in PERIODS],
        )


def _mark(academy_id: str, upn: str, day: date, session: str, code: str) -> dict[str, Any]:
    return {
        "academy_id": academy_id,
        "upn": upn,
        "mark_date": day,
        "session": session,
        "code": code,
        "source_code": code,
        "batch_id": BATCH,
    }


# The tables dbt reads, children before parents; emptied before and after the module.
SOURCE_TABLES = (
    tables.enrolments,
    tables.characteristic_periods,
    tables.attendance_marks,
    tables.pupils,
    tables.academies,
    tables.hubs,
    tables.trust,
)
DBT_SCHEMAS = ("marts", "analytics_intermediate", "analytics_staging", "analytics")


def _empty_sources(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in SOURCE_TABLES:
            conn.execute(delete(table))


def _drop_dbt_schemas(engine: Engine) -> None:
    with engine.begin() as conn:
        for schema in DBT_SCHEMAS:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


BUILD = ["build", "--select", "+mart_attendance_gap"]
#: The cohort's groups are of 1 to 4 pupils: built unsuppressed so each figure can be checked.
UNSUPPRESSED = ["build", "--vars", "{suppression_threshold: 1}"]


@pytest.fixture(scope="module")
def dbt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target/ and logs/ for the module's builds of the session warehouse: a later build
    reuses the saved manifest (dbt's partial parsing) instead of parsing the project again."""
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def warehouse(warehouse_url: str, dbt_dir: Path) -> Iterator[str]:
    """The session warehouse holding only the cohort above, built once by dbt."""
    engine = get_engine(warehouse_url)
    _empty_sources(engine)
    try:
        _seed_cohort(engine)
        _seed_histories(engine)
        run_dbt(UNSUPPRESSED, url=warehouse_url, data_dir=dbt_dir)
        yield warehouse_url
    finally:
        _empty_sources(engine)
        _drop_dbt_schemas(engine)


@contextmanager
def _fresh_database(admin_url: str) -> Iterator[str]:
    """Yield the URL of a new, migrated warehouse database; drop it afterwards."""
    name = f"td_test_dbt_{uuid.uuid4().hex[:10]}"
    admin = psycopg_conninfo(admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def _query(url: str, statement: str) -> list[dict[str, Any]]:
    with get_engine(url).connect() as conn:
        return [dict(row) for row in conn.execute(text(statement)).mappings()]


def _mart(url: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = _query(url, "SELECT * FROM marts.mart_attendance_gap ORDER BY 1, 2, 4")
    return {(r["level"], r["unit_id"], r["academic_year"]): r for r in rows}


def _measures(row: dict[str, Any]) -> tuple[tuple[int, ...], tuple[str | None, ...]]:
    """Pupil and session counts, then the rates and gap as text (so the scale is checked too)."""
    counts = (
        row["disadvantaged_pupils"],
        row["other_pupils"],
        row["disadvantaged_possible_sessions"],
        row["disadvantaged_attended_sessions"],
        row["other_possible_sessions"],
        row["other_attended_sessions"],
    )
    rates = (
        row["disadvantaged_attendance_rate"],
        row["other_attendance_rate"],
        row["attendance_gap_pp"],
    )
    return counts, tuple(None if r is None else str(r) for r in rates)


def test_mart_has_one_row_per_unit_and_year(warehouse: str) -> None:
    # 2025-26: A1, A2, A3, HN, HS, T1; 2023-24: A1, HN, T1 (only P1 has marks then).
    assert sorted(_mart(warehouse)) == sorted(
        [
            ("academy", "A1", "2025-26"),
            ("academy", "A2", "2025-26"),
            ("academy", "A3", "2025-26"),
            ("hub", "HN", "2025-26"),
            ("hub", "HS", "2025-26"),
            ("trust", "T1", "2025-26"),
            ("academy", "A1", "2023-24"),
            ("hub", "HN", "2023-24"),
            ("trust", "T1", "2023-24"),
        ]
    )


def test_academy_rows(warehouse: str) -> None:
    mart = _mart(warehouse)
    a1 = mart[("academy", "A1", "2025-26")]
    assert (a1["unit_name"], a1["academic_year_start"]) == ("Academy One", 2025)
    # P4 (aged 4) is left out; P3 (service child) counts as "other".
    assert _measures(a1) == ((2, 2, 8, 5, 5, 4), ("62.50", "80.00", "-17.50"))
    # Gap from the unrounded rates: 66.666.. - 33.333.. = 33.33, not 66.67 - 33.33 = 33.34.
    # Q3 (aged 16) is left out; Q2's NULL flags count as not disadvantaged.
    a2 = mart[("academy", "A2", "2025-26")]
    assert _measures(a2) == ((1, 1, 3, 2, 3, 1), ("66.67", "33.33", "33.33"))
    # No disadvantaged pupils: rate and gap are NULL, not 0. R2 (only D marks) is not counted.
    a3 = mart[("academy", "A3", "2025-26")]
    assert _measures(a3) == ((0, 1, 0, 0, 2, 2), (None, "100.00", None))


def test_hub_rows_sum_their_academies(warehouse: str) -> None:
    mart = _mart(warehouse)
    north = mart[("hub", "HN", "2025-26")]
    assert north["unit_name"] == "North"
    assert _measures(north) == ((2, 3, 8, 5, 7, 6), ("62.50", "85.71", "-23.21"))
    south = mart[("hub", "HS", "2025-26")]
    assert _measures(south) == _measures(mart[("academy", "A2", "2025-26")])


def test_trust_row_is_a_ratio_of_summed_sessions(warehouse: str) -> None:
    trust = _mart(warehouse)[("trust", "T1", "2025-26")]
    assert trust["unit_name"] == "Test Trust"
    # 7/11 = 63.64, not the mean of the academy rates (64.58); disadvantaged attend less.
    assert _measures(trust) == ((3, 4, 11, 7, 10, 7), ("63.64", "70.00", "-6.36"))
    assert trust["attendance_gap_pp"] < 0


def test_previous_year_uses_the_old_code_set(warehouse: str) -> None:
    mart = _mart(warehouse)
    for key in (("academy", "A1", "2023-24"), ("hub", "HN", "2023-24"), ("trust", "T1", "2023-24")):
        row = mart[key]
        assert row["academic_year_start"] == 2023
        # H (authorised absence) and / are possible; Y on 2024-08-18 is not possible.
        assert _measures(row) == ((1, 0, 2, 1, 0, 0), ("50.00", None, None))


def test_marks_classify_by_date_and_academic_year(warehouse: str) -> None:
    rows = _query(
        warehouse,
        "SELECT code, mark_date, category, academic_year, academic_year_start"
        " FROM analytics_intermediate.int_attendance_marks_classified"
        " WHERE code IN ('\\', '#', 'U', 'Y', 'H') ORDER BY code",
    )
    got = {(r["code"], r["category"], r["academic_year"], r["academic_year_start"]) for r in rows}
    assert got == {
        ("#", "not_possible", "2025-26", 2025),
        ("H", "authorised_absence", "2023-24", 2023),
        ("U", "unauthorised_absence", "2025-26", 2025),
        ("Y", "not_possible", "2023-24", 2023),  # 18 August is still the previous year
        ("\\", "present", "2025-26", 2025),
    }


def test_pupil_year_flags(warehouse: str) -> None:
    rows = _query(
        warehouse,
        "SELECT upn, disadvantaged, compulsory_school_age, age_at_start_of_year"
        " FROM analytics_intermediate.int_pupil_academic_year WHERE academic_year = '2025-26'",
    )
    flags = {r["upn"]: (r["disadvantaged"], r["compulsory_school_age"]) for r in rows}
    assert flags["P000000000003"] == (False, True)  # service child: not disadvantaged
    assert flags["P000000000004"] == (True, False)  # aged 4 on 31 Aug 2025
    assert flags["Q000000000003"] == (False, False)  # aged 16 on 31 Aug 2025
    assert flags["Q000000000001"] == (True, True)  # previously looked after


def test_rebuild_gives_identical_results(warehouse: str, dbt_dir: Path) -> None:
    before = _mart(warehouse)
    run_dbt(UNSUPPRESSED, url=warehouse, data_dir=dbt_dir)
    assert _mart(warehouse) == before


def test_small_groups_are_suppressed_in_the_served_mart(warehouse: str, dbt_dir: Path) -> None:
    # At a threshold of 3 pupils: A1 (2 and 2), A2 (1 and 1), A3's one other pupil, HN's 2
    # disadvantaged and HS (1 and 1) are suppressed; so are HN's 3 others, which HN's total
    # (in mart_attendance_measures) less them would give away; T1 (3 and 4) is shown.
    # A3 has no disadvantaged pupil: nothing to suppress, its NULL rate stays as it was.
    try:
        run_dbt([*BUILD, "--vars", "{suppression_threshold: 3}"], url=warehouse, data_dir=dbt_dir)
        mart = _mart(warehouse)
        flags = {
            unit: (row["disadvantaged_suppressed"], row["other_suppressed"])
            for unit, row in mart.items()
            if unit[2] == "2025-26"
        }
        assert flags == {
            ("academy", "A1", "2025-26"): (True, True),
            ("academy", "A2", "2025-26"): (True, True),
            ("academy", "A3", "2025-26"): (False, True),
            ("hub", "HN", "2025-26"): (True, True),
            ("hub", "HS", "2025-26"): (True, True),
            ("trust", "T1", "2025-26"): (False, False),
        }
        assert _measures(mart[("academy", "A1", "2025-26")]) == (
            (None,) * 6,
            (None, None, None),
        )
        hn = mart[("hub", "HN", "2025-26")]
        assert _measures(hn) == ((None,) * 6, (None, None, None))
        t1 = mart[("trust", "T1", "2025-26")]
        assert _measures(t1) == ((3, 4, 11, 7, 10, 7), ("63.64", "70.00", "-6.36"))
    finally:
        run_dbt(UNSUPPRESSED, url=warehouse, data_dir=dbt_dir)


def test_a_second_database_in_the_same_process(
    warehouse: str, postgres_admin_url: str, tmp_path: Path
) -> None:
    # dbt runs in-process and keeps global state: a run against another database must use that
    # database (empty here) and leave the first one alone.
    before = _mart(warehouse)
    with _fresh_database(postgres_admin_url) as other:
        run_dbt(["build"], url=other, data_dir=tmp_path)
        assert _mart(other) == {}
    assert _mart(warehouse) == before


def test_code_not_in_force_on_its_date_fails_the_build(warehouse: str, dbt_dir: Path) -> None:
    # H was retired on 19 Aug 2024: a 2025 H must stop the build, not drop out of the rates.
    bad = _mark("A1", "P000000000001", date(2025, 1, 10), "AM", "H")
    engine = get_engine(warehouse)
    with engine.begin() as conn:
        insert_marks(conn, [bad])
    try:
        with pytest.raises(DbtRunError) as failure:
            run_dbt(["build"], url=warehouse, data_dir=dbt_dir)
        assert any(
            "every_mark_has_a_code_in_force_on_its_date" in node
            for node in failure.value.failed_nodes
        )
    finally:
        marks = tables.attendance_marks
        with engine.begin() as conn:
            conn.execute(delete(marks).where(marks.c.mark_date == bad["mark_date"]))


def test_staging_leaves_withdrawn_enrolments_and_periods_out(warehouse: str) -> None:
    with get_engine(warehouse).connect() as conn:
        enrolled = set(
            conn.execute(text("SELECT upn, start_date FROM analytics_staging.stg_enrolments")).all()
        )
        periods = set(
            conn.execute(
                text("SELECT upn, characteristic FROM analytics_staging.stg_characteristic_periods")
            ).all()
        )
    assert enrolled == {
        ("P000000000001", date(2021, 9, 1)),
        ("P000000000005", date(2020, 9, 1)),
    }
    assert periods == {("P000000000001", "fsm"), ("P000000000002", "cla")}
