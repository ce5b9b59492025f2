"""The attendance measures, end to end: a hand-built cohort in, mart_attendance_measures out.

Runs in the session's warehouse database (tests/conftest.py) like test_marts.py: the module
empties the tables dbt reads, loads this cohort, builds once, and empties them (and drops the
dbt schemas, so the incremental fact starts afresh in the next module) when it is done. All
pupils are synthetic (UPNs from make_upn). Trust T1: hub HN = academy A1, hub HS = academy A2.

Marks (2025-26): ten sessions per pupil, Mon 8 - Fri 12 Sep 2025 at A1 (autumn_1, the week of
2025-09-08) and Mon 3 - Fri 7 Nov 2025 at A2 (autumn_2, the week of 2025-11-03), AM then PM.
"poss" = possible, "att" = attended (present or approved activity), "auth"/"unauth" = absence.

A1 (all in Year 5 unless stated)                                 poss att auth unauth PA  SA
  P1 F ever-FSM: FSM period 2019-01-07..2022-07-20 (ended), record's fsm6 flag false:
     disadvantaged via FSM6 (FSM since April 2018). U then / \\, D once   9   8   0    1   y   n
     (U: present but unauthorised; D not possible; 1/9 = 11.1% >= 10%)
  P2 F CLA period, EHCP: Y1 Y2 Y3 Y4 Y5 Y6 Y7 / \\ I  (Y* not poss.)    3   2   1    0   y   n
  P3 F service child (period and flag), EAL, a withdrawn FSM period: NOT disadvantaged;
     Q and X once each (not possible), rest present                      8   8   0    0   n   n
  P4 F PLAC by the record's flag only (no periods), SEN support: I I    10   8   2    0   y   n
  P5 F fsm6 by the record's flag only: N once                           10   9   0    1   y   n
                                                        (1/10 = exactly 10%: persistent)
  P6 M other: all present                                              10  10   0    0   n   n
  P7 M other: G x5                                                     10   5   0    5   y   y
  P8 M aged 4 on 31 Aug 2025: / \\ on Monday      -> not in the headline cohort
  P9 M other, Year 10, left 10 Sep 2025 (enrolment 2020-09-01..2025-09-10), Mon-Wed only:
     O once (leavers are included)                                      6   5   0    1   y   n
  PM M mover, FSM period from 2024-09-01 recorded at A1 only: enrolment at A1
     2021-09-01..2025-10-31, M once                                     10   9   1    0   y   n
A2
  PM at A2 from 2025-11-03 (a second enrolment; disadvantaged by the A1 FSM period, pooled
     by UPN; the A2 record's flags are empty): all present              10  10   0    0   n   n
  Q1 F other: all present                                              10  10   0    0   n   n
  Q2 M other: U U                                                      10   8   0    2   y   n
  P6 also dual registered at A2 (subsidiary, from 2025-11-03), Monday / \\:  2   2   0    0
     -> kept in the enrolment model, left out of the measures (main and sole registrations)

PM on a pupil basis would be 1/20 = 5% absent (not persistent); per enrolment, A1 counts him.

Academic year 2025-26 (and term autumn, the same marks):
  A1 all: 9 enrolments, poss 76, att 64, auth 4, unauth 8: attendance 64/76 = 84.21,
    authorised 4/76 = 5.26, unauthorised 8/76 = 10.53, overall absence 12/76 = 15.79,
    PA 7/9 = 77.78 (all but P3, P6), SA 1/9 = 11.11 (P7).
  A1 other has 4 enrolments (< 5): suppressed; disadvantaged (5) is then the only unsuppressed
    value of its grouping and all - other would give it away, so it is suppressed too; the
    gap at A1 is NULL. A2 (3 enrolments) is suppressed in every group. Hub HN = A1.
  Trust all: 12 enrolments, poss 106, att 92, auth 4, unauth 10: 86.79, 3.77, 9.43, 13.21;
    PA 8/12 = 66.67, SA 1/12 = 8.33 (a mean of the academy rates would differ: not used).
  Trust disadvantaged (P1 P2 P4 P5 PM@A1 PM@A2 = 6): poss 52, att 46, auth 4, unauth 2:
    88.46, 7.69, 3.85, 11.54; PA 5/6 = 83.33; SA 0/6 = 0.00.
  Trust other (P3 P6 P7 P9 Q1 Q2 = 6): poss 54, att 46, auth 0, unauth 8:
    85.19, 0.00, 14.81, 14.81; PA 3/6 = 50.00; SA 1/6 = 16.67.
  Gaps (disadvantaged - other, from unrounded rates): attendance 88.4615 - 85.1852 = 3.28;
    authorised 7.69; unauthorised 3.8462 - 14.8148 = -10.97; overall -3.28; PA 33.33;
    SA -16.67.
  Trust gender F (P1 P2 P3 P4 P5 Q1): poss 50, att 45 = 90.00; M (6): poss 56, att 47 = 83.93.
  Trust fsm6 (P1 P5 PM x2 = 4) suppressed, so not_fsm6 (8) is too. SEN: ehcp 1 and
    sen_support 1 suppressed; with two suppressed, no_sen (10) is shown. Year group: Y10 (1)
    suppressed, so Y5 (11) is too.
  Half term autumn_1 and the week of 2025-09-08 at trust level = A1's figures; autumn_2 and
    the week of 2025-11-03 have 3 enrolments: suppressed.
2023-24 (old code set), P1 at A1, Mon 11 and Tue 12 Mar 2024: H J / \\ -> poss 4, att 2,
  auth 2: 50% absent, persistent and severe; one enrolment, so suppressed in the mart.
2024-25, Mon 9 Sep 2024 at A1 (week 02 of that year, as 8 Sep 2025 is of 2025-26: weeks count
  from the week of the first teaching day): P1 P2 P4 P5 / \\; P3 I \\; P6 N N.
  Trust all: 6 enrolments, poss 12, att 9, auth 1, unauth 2: 75.00, 8.33, 16.67, 25.00;
  PA = SA = 2/6 (P3 1/2, P6 2/2) = 33.33.
Trends (2025-26 trust, all pupils, against 2024-25): attendance 86.7925 - 75 = 11.79;
  authorised 3.7736 - 8.3333 = -4.56; unauthorised 9.4340 - 16.6667 = -7.23; overall
  13.2075 - 25 = -11.79; PA 66.6667 - 33.3333 = 33.33; SA 8.3333 - 33.3333 = -25.00.
Year to date runs to the latest mark, 7 Nov 2025 ('to 11-07'): all of 2025-26 and 2024-25 so
  far; 2023-24's only marks (March) are after 7 Nov 2023, so that year has no such row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.engine import Engine

from tests.helpers import insert_marks
from trustdata.domain.upn import make_upn
from trustdata.warehouse import tables
from trustdata.warehouse.dbt import run_dbt
from trustdata.warehouse.engine import get_engine

BATCH = uuid.UUID("00000000-0000-0000-0000-000000000006")
LOADED = datetime(2025, 11, 10, 18, 0, tzinfo=UTC)
A2_LOADED = LOADED + timedelta(days=2)  # beyond the fact's one-day look-back
P1, P2, P3, P4, P5, P6, P7, P8, P9, PM = (make_upn(990, 2001, 16, n) for n in range(1, 11))
Q1, Q2 = (make_upn(990, 2002, 16, n) for n in range(1, 3))
Y5_BIRTHDAY = date(2016, 1, 10)  # aged 9 on 31 Aug 2025: Year 5 in 2025-26

# (academy, upn, date_of_birth, gender, fsm6, in_care, previously_in_care, service_child,
#  sen_status, eal, leaving_date)
PUPILS = [
    ("A1", P1, Y5_BIRTHDAY, "F", False, False, False, False, "N", False, None),
    ("A1", P2, Y5_BIRTHDAY, "F", False, True, False, False, "E", False, None),
    ("A1", P3, Y5_BIRTHDAY, "F", False, False, False, True, None, True, None),
    ("A1", P4, Y5_BIRTHDAY, "F", False, False, True, False, "K", False, None),
    ("A1", P5, Y5_BIRTHDAY, "F", True, False, False, False, "N", False, None),
    ("A1", P6, Y5_BIRTHDAY, "M", False, False, False, False, "N", False, None),
    ("A1", P7, Y5_BIRTHDAY, "M", False, False, False, False, "N", False, None),
    ("A1", P8, date(2021, 1, 15), "M", True, False, False, False, "N", False, None),
    ("A1", P9, date(2010, 10, 10), "M", False, False, False, False, "N", False, date(2025, 9, 10)),
    ("A1", PM, Y5_BIRTHDAY, "M", True, False, False, False, "N", False, date(2025, 10, 31)),
    ("A2", PM, Y5_BIRTHDAY, "M", None, None, None, None, None, None, None),
    ("A2", Q1, Y5_BIRTHDAY, "F", False, False, False, False, "N", False, None),
    ("A2", Q2, Y5_BIRTHDAY, "M", False, False, False, False, "N", False, None),
    ("A2", P6, Y5_BIRTHDAY, "M", False, False, False, False, "N", False, None),
]

PRESENT = ["/", "\\"] * 5
SEPT, NOV, LAST_YEAR = date(2025, 9, 8), date(2025, 11, 3), date(2024, 9, 9)
# (academy, upn, first Monday, codes AM, PM, AM, PM ... on consecutive days)
MARKS: list[tuple[str, str, date, list[str]]] = [
    ("A1", P1, SEPT, ["U", "\\", "/", "D", "/", "\\", "/", "\\", "/", "\\"]),
    ("A1", P2, SEPT, ["Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "/", "\\", "I"]),
    ("A1", P3, SEPT, ["/", "\\", "/", "\\", "Q", "X", "/", "\\", "/", "\\"]),
    ("A1", P4, SEPT, ["I", "I", *PRESENT[2:]]),
    ("A1", P5, SEPT, ["N", *PRESENT[1:]]),
    ("A1", P6, SEPT, PRESENT),
    ("A1", P7, SEPT, ["G"] * 5 + PRESENT[5:]),
    ("A1", P8, SEPT, ["/", "\\"]),
    ("A1", P9, SEPT, ["/", "\\", "O", "\\", "/", "\\"]),
    ("A1", PM, SEPT, ["M", *PRESENT[1:]]),
    ("A2", PM, NOV, PRESENT),
    ("A2", Q1, NOV, PRESENT),
    ("A2", Q2, NOV, ["U", "U", *PRESENT[2:]]),
    ("A2", P6, NOV, ["/", "\\"]),
    ("A1", P1, date(2024, 3, 11), ["H", "J", "/", "\\"]),
    *(("A1", upn, LAST_YEAR, ["/", "\\"]) for upn in (P1, P2, P4, P5)),
    ("A1", P3, LAST_YEAR, ["I", "\\"]),
    ("A1", P6, LAST_YEAR, ["N", "N"]),
]

WITHDRAWN = datetime(2025, 10, 1, tzinfo=UTC)
# (academy, upn, start, end, registration)
ENROLMENTS = [
    ("A1", P9, date(2020, 9, 1), date(2025, 9, 10), "single"),
    ("A1", PM, date(2021, 9, 1), date(2025, 10, 31), "single"),
    ("A2", PM, date(2025, 11, 3), None, "single"),
    ("A2", P6, date(2025, 11, 3), None, "subsidiary"),
]
# (academy, upn, characteristic, start, end, withdrawn_at)
PERIODS = [
    ("A1", P1, "fsm", date(2019, 1, 7), date(2022, 7, 20), None),
    ("A1", P2, "cla", date(2024, 5, 1), None, None),
    ("A1", P3, "service_child", date(2020, 9, 1), None, None),
    ("A1", P3, "fsm", date(2024, 9, 2), None, WITHDRAWN),
    ("A1", PM, "fsm", date(2024, 9, 1), None, None),
]

SOURCE_TABLES = (
    tables.enrolments,
    tables.characteristic_periods,
    tables.attendance_marks_superseded,
    tables.attendance_marks,
    tables.pupils,
    tables.academies,
    tables.hubs,
    tables.trust,
)
DBT_SCHEMAS = ("marts", "analytics_intermediate", "analytics_staging", "analytics")


def _mark_rows() -> list[dict[str, Any]]:
    rows = []
    for academy_id, upn, monday, codes in MARKS:
        for i, code in enumerate(codes):
            day = monday + timedelta(days=i // 2)
            row = _mark(academy_id, upn, day, "AM" if i % 2 == 0 else "PM", code)
            # A2's marks came in a later batch: the fact's watermark is theirs.
            rows.append(row | ({"published_at": A2_LOADED} if academy_id == "A2" else {}))
    return rows


def _mark(academy_id: str, upn: str, day: date, session: str, code: str) -> dict[str, Any]:
    return {
        "academy_id": academy_id,
        "upn": upn,
        "mark_date": day,
        "session": session,
        "code": code,
        "source_code": code,
        "batch_id": BATCH,
        "published_at": LOADED,
    }


def _seed(engine: Engine) -> None:
    academy = {"urn": "100000", "phase": "primary", "adapter_kind": "wonde", "trust_id": "T1"}
    audit = {"batch_id": BATCH, "published_at": LOADED}
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
            ],
        )
        keys: tuple[str, ...] = ("academy_id", "upn", "date_of_birth", "gender", "fsm6")
        keys += ("in_care", "previously_in_care", "service_child", "sen_status", "eal")
        keys += ("leaving_date",)
        conn.execute(
            insert(tables.pupils),
            [dict(zip(keys, p, strict=True)) | {"mis_id": p[1], **audit} for p in PUPILS],
        )
        insert_marks(conn, _mark_rows())
        keys = ("academy_id", "upn", "start_date", "end_date", "registration")
        conn.execute(
            insert(tables.enrolments),
            [dict(zip(keys, e, strict=True)) | {"mis_id": e[1], **audit} for e in ENROLMENTS],
        )
        keys = ("academy_id", "upn", "characteristic", "start_date", "end_date", "withdrawn_at")
        conn.execute(
            insert(tables.characteristic_periods),
            [dict(zip(keys, c, strict=True)) | {"mis_id": c[1], **audit} for c in PERIODS],
        )


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in SOURCE_TABLES:
            conn.execute(delete(table))
        for schema in DBT_SCHEMAS:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="module")
def warehouse(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session warehouse holding only the cohort above, built once by dbt."""
    engine = get_engine(warehouse_url)
    _reset(engine)
    try:
        _seed(engine)
        run_dbt(["build"], url=warehouse_url, data_dir=tmp_path_factory.mktemp("dbt"))
        yield warehouse_url
    finally:
        _reset(engine)


def _query(url: str, statement: str) -> list[dict[str, Any]]:
    with get_engine(url).connect() as conn:
        return [dict(row) for row in conn.execute(text(statement)).mappings()]


Key = tuple[str, str, str, str, str, str, str]


def _mart(url: str) -> dict[Key, dict[str, Any]]:
    rows = _query(url, "SELECT * FROM marts.mart_attendance_measures")
    return {
        (
            r["level"],
            r["unit_id"],
            r["academic_year"],
            r["period_type"],
            r["period"],
            r["group_type"],
            r["group_value"],
        ): r
        for r in rows
    }


MEASURES = (
    "enrolments",
    "possible_sessions",
    "attendance_rate",
    "authorised_absence_rate",
    "unauthorised_absence_rate",
    "overall_absence_rate",
    "persistent_absence_rate",
    "severe_absence_rate",
)
GAPS = tuple(f"{m}_gap_pp" for m in MEASURES[2:])


def _figures(row: dict[str, Any], columns: tuple[str, ...] = MEASURES) -> tuple[str | None, ...]:
    """The row's figures as text, so that the scale (2 dp) is checked too."""
    return tuple(None if row[c] is None else str(row[c]) for c in columns)


YEAR: tuple[str, str, str] = ("2025-26", "academic_year", "2025-26")


def _key(
    level: str,
    unit: str,
    group_type: str,
    group_value: str,
    period: tuple[str, str, str] = YEAR,
) -> Key:
    year, period_type, label = period
    return (level, unit, year, period_type, label, group_type, group_value)


def test_marks_classify_with_the_code_in_force(warehouse: str) -> None:
    rows = _query(warehouse, "SELECT code, category FROM marts.fct_attendance_sessions")
    categories = {(r["code"], r["category"]) for r in rows}
    assert ("U", "unauthorised_absence") in categories
    for code in ("D", "Q", "X", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7"):
        assert (code, "not_possible") in categories
    assert {("H", "authorised_absence"), ("J", "authorised_absence")} <= categories
    assert len(rows) == sum(len(codes) for *_, codes in MARKS)


def test_characteristics_from_periods_and_flags(warehouse: str) -> None:
    rows = _query(
        warehouse,
        "SELECT academy_id, upn, fsm6, cla, plac, disadvantaged, disadvantage_source,"
        " service_child, sen_group, eal, gender, year_group, compulsory_school_age"
        " FROM marts.dim_pupil_characteristics WHERE academic_year = '2025-26'",
    )
    dim = {(r["academy_id"], r["upn"]): r for r in rows}
    # Ever-FSM, eligibility ended in 2022: still disadvantaged (FSM since April 2018).
    assert (dim["A1", P1]["fsm6"], dim["A1", P1]["disadvantaged"]) == (True, True)
    assert dim["A1", P1]["disadvantage_source"] == "periods"
    # Service child, with a withdrawn FSM period: not disadvantaged.
    assert (dim["A1", P3]["service_child"], dim["A1", P3]["disadvantaged"]) == (True, False)
    assert dim["A1", P2]["cla"] and dim["A1", P2]["sen_group"] == "ehcp"
    # No periods at all: the record's flags decide.
    assert dim["A1", P4]["plac"] and dim["A1", P4]["disadvantage_source"] == "pupil_record"
    assert dim["A1", P4]["sen_group"] == "sen_support"
    assert dim["A1", P5]["fsm6"] and dim["A1", P5]["disadvantaged"]
    # FSM recorded at A1 counts at A2, whose record says nothing.
    assert dim["A2", PM]["fsm6"] and dim["A2", PM]["disadvantaged"]
    assert (dim["A1", P9]["year_group"], dim["A1", P3]["year_group"]) == ("Y10", "Y5")
    assert dim["A1", P8]["compulsory_school_age"] is False
    assert not any(dim["A1", p]["disadvantaged"] for p in (P6, P7, P9))
    assert (dim["A1", P3]["eal"], dim["A1", P3]["gender"]) == (True, "F")


def test_sessions_and_persistent_absence_per_enrolment(warehouse: str) -> None:
    rows = _query(
        warehouse,
        "SELECT academy_id, upn, enrolment_start, academic_year, possible_sessions,"
        " attended_sessions, authorised_absence_sessions, unauthorised_absence_sessions,"
        " persistent_absence, severe_absence"
        " FROM analytics_intermediate.int_enrolment_attendance_periods"
        " WHERE period_type = 'academic_year'",
    )
    got = {
        (r["academy_id"], r["upn"], r["academic_year"]): (
            r["possible_sessions"],
            r["attended_sessions"],
            r["authorised_absence_sessions"],
            r["unauthorised_absence_sessions"],
            r["persistent_absence"],
            r["severe_absence"],
        )
        for r in rows
    }
    year = "2025-26"
    assert got == {
        ("A1", P1, year): (9, 8, 0, 1, True, False),
        ("A1", P2, year): (3, 2, 1, 0, True, False),
        ("A1", P3, year): (8, 8, 0, 0, False, False),
        ("A1", P4, year): (10, 8, 2, 0, True, False),
        ("A1", P5, year): (10, 9, 0, 1, True, False),  # exactly 10%
        ("A1", P6, year): (10, 10, 0, 0, False, False),
        ("A1", P7, year): (10, 5, 0, 5, True, True),  # exactly 50%
        ("A1", P8, year): (2, 2, 0, 0, False, False),
        ("A1", P9, year): (6, 5, 0, 1, True, False),
        ("A1", PM, year): (10, 9, 1, 0, True, False),
        ("A2", PM, year): (10, 10, 0, 0, False, False),
        ("A2", Q1, year): (10, 10, 0, 0, False, False),
        ("A2", Q2, year): (10, 8, 0, 2, True, False),
        ("A2", P6, year): (2, 2, 0, 0, False, False),  # subsidiary: not in the mart
        ("A1", P1, "2023-24"): (4, 2, 2, 0, True, True),  # H and J: authorised
        ("A1", P1, "2024-25"): (2, 2, 0, 0, False, False),
        ("A1", P2, "2024-25"): (2, 2, 0, 0, False, False),
        ("A1", P3, "2024-25"): (2, 1, 1, 0, True, True),
        ("A1", P4, "2024-25"): (2, 2, 0, 0, False, False),
        ("A1", P5, "2024-25"): (2, 2, 0, 0, False, False),
        ("A1", P6, "2024-25"): (2, 0, 0, 2, True, True),
    }
    spells = {(r["academy_id"], r["upn"], r["academic_year"]): r["enrolment_start"] for r in rows}
    # The mover has two enrolments; pupils without enrolment rows get one spell from their
    # first mark.
    assert spells["A1", PM, year] == date(2021, 9, 1)
    assert spells["A2", PM, year] == date(2025, 11, 3)
    assert spells["A1", P1, year] == spells["A1", P1, "2023-24"] == date(2024, 3, 11)


def test_trust_measures_and_gaps(warehouse: str) -> None:
    mart = _mart(warehouse)
    trust = mart[_key("trust", "T1", "all", "all")]
    assert trust["unit_name"] == "Test Trust" and trust["suppressed"] is False
    assert _figures(trust) == ("12", "106", "86.79", "3.77", "9.43", "13.21", "66.67", "8.33")
    disadvantaged = mart[_key("trust", "T1", "disadvantage", "disadvantaged")]
    assert _figures(disadvantaged) == ("6", "52", "88.46", "7.69", "3.85", "11.54", "83.33", "0.00")
    other = mart[_key("trust", "T1", "disadvantage", "other")]
    assert _figures(other) == ("6", "54", "85.19", "0.00", "14.81", "14.81", "50.00", "16.67")
    # The gaps are on every row of the unit and period.
    for row in (trust, disadvantaged, other):
        assert _figures(row, GAPS) == ("3.28", "7.69", "-10.97", "-3.28", "33.33", "-16.67")
    female = mart[_key("trust", "T1", "gender", "F")]
    male = mart[_key("trust", "T1", "gender", "M")]
    assert (female["attendance_rate"], male["attendance_rate"]) == (
        Decimal("90.00"),
        Decimal("83.93"),
    )
    no_sen = mart[_key("trust", "T1", "sen", "no_sen")]
    assert (no_sen["suppressed"], no_sen["enrolments"]) == (False, 10)


def test_the_gap_mart_counts_the_same_pupils_as_disadvantaged(warehouse: str) -> None:
    """mart_attendance_gap (the API's headline) and mart_attendance_measures take disadvantage
    from the same dated characteristics: P3's withdrawn FSM period and PM's FSM from 2024
    decide the year in both, not the pupils' current flags."""
    measures = _mart(warehouse)
    gaps = {
        (r["level"], r["unit_id"]): r
        for r in _query(
            warehouse, "SELECT * FROM marts.mart_attendance_gap WHERE academic_year = '2025-26'"
        )
    }
    for level, unit in (("trust", "T1"), ("hub", "HN"), ("academy", "A1"), ("academy", "A2")):
        gap = gaps[(level, unit)]
        for group in ("disadvantaged", "other"):
            row = measures[_key(level, unit, "disadvantage", group)]
            if row["suppressed"]:
                assert gap[f"{group}_suppressed"], (level, unit, group)
                continue
            assert (gap[f"{group}_pupils"], gap[f"{group}_possible_sessions"]) == (
                row["enrolments"],
                row["possible_sessions"],
            ), (level, unit, group)
            assert gap[f"{group}_attendance_rate"] == row["attendance_rate"], (level, unit, group)


def test_small_groups_are_suppressed(warehouse: str) -> None:
    mart = _mart(warehouse)

    def suppressed(
        level: str, unit: str, group_type: str, value: str, period: tuple[str, str, str] = YEAR
    ) -> bool:
        row = mart[_key(level, unit, group_type, value, period)]
        if row["suppressed"]:
            assert _figures(row, MEASURES) == (None,) * len(MEASURES)
        return bool(row["suppressed"])

    # A1: other has 4 (< 5); disadvantaged (5) goes with it; the whole academy is shown.
    assert suppressed("academy", "A1", "disadvantage", "other")
    assert suppressed("academy", "A1", "disadvantage", "disadvantaged")
    a1 = mart[_key("academy", "A1", "all", "all")]
    assert _figures(a1) == ("9", "76", "84.21", "5.26", "10.53", "15.79", "77.78", "11.11")
    assert _figures(a1, GAPS) == (None,) * len(GAPS)
    assert _figures(mart[_key("hub", "HN", "all", "all")]) == _figures(a1)
    assert suppressed("academy", "A2", "all", "all")  # 3 enrolments
    assert suppressed("hub", "HS", "all", "all")
    # Binary groupings at trust level: one small value hides the other.
    assert suppressed("trust", "T1", "fsm6", "fsm6")
    assert suppressed("trust", "T1", "fsm6", "not_fsm6")
    assert suppressed("trust", "T1", "year_group", "Y10")
    assert suppressed("trust", "T1", "year_group", "Y5")
    # Two small SEN values: neither can be worked out, so no_sen stays.
    assert suppressed("trust", "T1", "sen", "ehcp") and suppressed(
        "trust", "T1", "sen", "sen_support"
    )
    assert not suppressed("trust", "T1", "sen", "no_sen")
    assert not suppressed("trust", "T1", "all", "all")
    # P1 alone in 2023-24.
    assert suppressed("trust", "T1", "all", "all", ("2023-24", "academic_year", "2023-24"))


def test_periods(warehouse: str) -> None:
    mart = _mart(warehouse)
    year = _figures(mart[_key("trust", "T1", "all", "all")])
    assert _figures(mart[_key("trust", "T1", "all", "all", ("2025-26", "term", "autumn"))]) == year
    a1 = _figures(mart[_key("academy", "A1", "all", "all")])
    for period in (("2025-26", "half_term", "autumn_1"), ("2025-26", "week", "2025-09-08")):
        assert _figures(mart[_key("trust", "T1", "all", "all", period)]) == a1
    for period in (("2025-26", "half_term", "autumn_2"), ("2025-26", "week", "2025-11-03")):
        assert mart[_key("trust", "T1", "all", "all", period)]["suppressed"]
    autumn_1 = mart[_key("trust", "T1", "all", "all", ("2025-26", "half_term", "autumn_1"))]
    assert (autumn_1["period_start"], autumn_1["period_end"]) == (
        date(2025, 9, 1),
        date(2025, 11, 2),
    )
    assert {key[3] for key in mart} == {
        "academic_year",
        "term",
        "half_term",
        "week",
        "year_to_date",
    }
    # P8 (aged 4) is in no row: A1 counts 9 enrolments, not 10.
    assert mart[_key("academy", "A1", "all", "all")]["enrolments"] == 9


def test_trends_against_the_same_period_last_year(warehouse: str) -> None:
    mart = _mart(warehouse)
    last = mart[_key("trust", "T1", "all", "all", ("2024-25", "academic_year", "2024-25"))]
    assert _figures(last) == ("6", "12", "75.00", "8.33", "16.67", "25.00", "33.33", "33.33")
    rates = MEASURES[2:]
    now = mart[_key("trust", "T1", "all", "all")]
    assert _figures(now, tuple(f"{m}_last_year" for m in rates)) == _figures(last, rates)
    changes = tuple(f"{m}_change_pp" for m in rates)
    assert _figures(now, changes) == ("11.79", "-4.56", "-7.23", "-11.79", "33.33", "-25.00")
    # Year to date: to 7 Nov in both years, which is everything so far.
    ytd = ("2025-26", "year_to_date", "to 11-07")
    assert _figures(mart[_key("trust", "T1", "all", "all", ytd)]) == _figures(now)
    assert mart[_key("trust", "T1", "all", "all", ytd)]["attendance_rate_last_year"] == (
        Decimal("75.00")
    )
    assert ("trust", "T1", "2023-24", "year_to_date", "to 11-07", "all", "all") not in mart
    # Week 02 of each year.
    week = mart[_key("trust", "T1", "all", "all", ("2025-26", "week", "2025-09-08"))]
    assert (week["period_in_year"], week["attendance_rate_last_year"]) == (
        "week 02",
        Decimal("75.00"),
    )
    # 2023-24 (P1 alone) is suppressed, so 2024-25 has nothing to compare with; A2 is
    # suppressed in 2025-26 (and absent in 2024-25), so it shows no change.
    assert last["attendance_rate_last_year"] is None
    a2 = mart[_key("academy", "A2", "all", "all")]
    assert (a2["attendance_rate_change_pp"], a2["attendance_rate_last_year"]) == (None, None)


def test_gap_trends_against_last_years_gap(warehouse: str, tmp_path: Path) -> None:
    """Each gap beside last year's: NULL while 2024-25's groups are suppressed; unsuppressed,
    2024-25's trust gap is disadvantaged 8/8 = 100.00 (P1 P2 P4 P5: / \\) minus other 1/4 =
    25.00 (P3 I \\, P6 N N) = 75.00, and 2025-26's 3.2763 - 75 = -71.72 (from unrounded gaps).
    Week 02 of 2025-26 (A1 only): disadvantaged 36/42 = 85.714, other 28/34 = 82.353, gap
    3.3613, against week 02 of 2024-25 (all of that year): -71.64."""
    gap_trend = ("attendance_rate_gap_pp", "attendance_rate_gap_pp_last_year")
    gap_trend += ("attendance_rate_gap_pp_change",)
    now = _mart(warehouse)[_key("trust", "T1", "disadvantage", "disadvantaged")]
    assert _figures(now, gap_trend) == ("3.28", None, None)
    mart_only = ["run", "--select", "mart_attendance_measures"]
    try:
        run_dbt(
            [*mart_only, "--vars", "{suppression_threshold: 1}"], url=warehouse, data_dir=tmp_path
        )
        unsuppressed = _mart(warehouse)
        now = unsuppressed[_key("trust", "T1", "disadvantage", "other")]
        assert _figures(now, gap_trend) == ("3.28", "75.00", "-71.72")
        week = ("2025-26", "week", "2025-09-08")  # week 02 of both years
        weekly = unsuppressed[_key("trust", "T1", "disadvantage", "other", week)]
        assert _figures(weekly, gap_trend) == ("3.36", "75.00", "-71.64")
    finally:
        run_dbt(mart_only, url=warehouse, data_dir=tmp_path)


def _fact(url: str) -> dict[tuple[str, str, date, str], str]:
    rows = _query(
        url,
        "SELECT academy_id, upn, mark_date, session, source_code FROM marts.fct_attendance_sessions",
    )
    return {
        (r["academy_id"], r["upn"], r["mark_date"], r["session"]): r["source_code"] for r in rows
    }


def _built_at(url: str) -> dict[tuple[str, str], set[datetime]]:
    """When each academy's partitions of the incremental models after the fact were built."""
    built: dict[tuple[str, str], set[datetime]] = {}
    for model in (
        "analytics_intermediate.int_enrolment_attendance_periods",
        "analytics_intermediate.int_academy_attendance_counts",
    ):
        for row in _query(url, f"SELECT DISTINCT academy_id, built_at FROM {model}"):
            built.setdefault((model, row["academy_id"]), set()).add(row["built_at"])
    return built


def test_incremental_build_redoes_only_touched_dates(warehouse: str, tmp_path: Path) -> None:
    # Last in the module: it changes the cohort, as the pipeline would. A new day for P6
    # (after the latest mark, so year to date moves on for every academy and year);
    # P7's last G (Wednesday AM) corrected to /; both of P1's marks on 12 Mar 2024 deleted
    # (the date is left with no marks, so only the pre-hook can clear it); P8 deleted by the
    # MIS (his date is untouched, so only the post-hook can drop his marks). A fact row of an
    # untouched date is tampered with, to see which dates the run rebuilds. The watermark is
    # A2's batch less the one-day look-back, still after A1's batch: A1's untouched dates are
    # older than it.
    engine = get_engine(warehouse)
    marks, superseded = tables.attendance_marks, tables.attendance_marks_superseded
    p7 = ("A1", P7, date(2025, 9, 10), "AM")
    gone = [("A1", P1, date(2024, 3, 12), "AM"), ("A1", P1, date(2024, 3, 12), "PM")]
    untouched = ("A1", P6, date(2025, 9, 12), "PM")
    new_day = date(2025, 11, 10)
    later = uuid.UUID(int=BATCH.int + 1)

    def where(key: tuple[str, str, date, str]) -> Any:
        c = marks.c
        return (
            (c.academy_id == key[0])
            & (c.upn == key[1])
            & (c.mark_date == key[2])
            & (c.session == key[3])
        )

    with engine.begin() as conn:
        for key in (p7, *gone):
            row = dict(conn.execute(marks.select().where(where(key))).mappings().one())
            conn.execute(insert(superseded), [row | {"superseded_by_batch_id": later}])
        conn.execute(
            update(marks)
            .where(where(p7))
            .values(code="/", source_code="/", published_at=text("now()"))
        )
        for key in gone:
            conn.execute(delete(marks).where(where(key)))
        now = {"published_at": datetime.now(UTC)}
        insert_marks(
            conn,
            [
                _mark("A1", P6, new_day, "AM", "/") | now,
                _mark("A1", P6, new_day, "PM", "L") | now,
            ],
        )
        conn.execute(
            update(tables.pupils)
            .where((tables.pupils.c.academy_id == "A1") & (tables.pupils.c.upn == P8))
            .values(deleted_at=datetime.now(UTC))
        )
        conn.execute(
            text(
                "UPDATE marts.fct_attendance_sessions SET source_code = 'tampered'"
                " WHERE academy_id = :a AND upn = :u AND mark_date = :d AND session = :s"
            ),
            dict(zip("auds", untouched, strict=True)),
        )

    built_before = _built_at(warehouse)
    run_dbt(["build"], url=warehouse, data_dir=tmp_path)
    built_after = _built_at(warehouse)
    fact = _fact(warehouse)
    assert fact[p7] == "/"
    assert fact["A1", P6, new_day, "PM"] == "L"
    assert not any(key in fact for key in gone)
    assert not any(upn == P8 for _, upn, _, _ in fact)
    assert fact[untouched] == "tampered"  # its date was not rebuilt
    # Only A1 changed: the models after the fact rebuilt its partitions and left A2's alone.
    for (model, academy), built in built_after.items():
        if academy == "A2":
            assert built == built_before[model, academy]
        else:
            assert min(built) > max(built_before[model, academy])
    incremental = _mart(warehouse)
    gap_sql = "SELECT * FROM marts.mart_attendance_gap ORDER BY level, unit_id"
    gap = _query(warehouse, gap_sql)
    ytd = ("2025-26", "year_to_date", "to 11-10")
    assert _figures(incremental[_key("trust", "T1", "all", "all", ytd)]) == _figures(
        incremental[_key("trust", "T1", "all", "all")]
    )
    # Trust: poss 106 + 2 = 108, att 92 + 2 (P6) + 1 (P7) = 95, auth 4, unauth 10 - 1 = 9:
    # 87.96, 3.70, 8.33, 12.04; P7 is now 4/10 absent (persistent, not severe): PA 8/12 =
    # 66.67, SA 0/12 = 0.00.
    trust = incremental[_key("trust", "T1", "all", "all")]
    assert _figures(trust) == ("12", "108", "87.96", "3.70", "8.33", "12.04", "66.67", "0.00")

    # The full-refresh path: the fact and everything after it, rebuilt from raw.
    full = ["run", "--full-refresh", "--select", "fct_attendance_sessions+"]
    run_dbt(full, url=warehouse, data_dir=tmp_path)
    rebuilt = _fact(warehouse)
    assert rebuilt[untouched] == "\\"
    assert rebuilt == fact | {untouched: "\\"}
    assert _mart(warehouse) == incremental
    assert _query(warehouse, gap_sql) == gap

    # The MIS sends P8 again (restored), and a mark of Q2's leaves raw without a trace (as by
    # hand): neither touches a date, so the count check rebuilds A1 and A2 whole.
    pupils, q2 = tables.pupils.c, ("A2", Q2, NOV, "AM")
    with engine.begin() as conn:
        conn.execute(
            update(tables.pupils)
            .where((pupils.academy_id == "A1") & (pupils.upn == P8))
            .values(deleted_at=None, published_at=text("now()"))
        )
        conn.execute(delete(marks).where(where(q2)))
    run_dbt(["run", "--select", "fct_attendance_sessions"], url=warehouse, data_dir=tmp_path)
    restored = {("A1", P8, SEPT, "AM"): "/", ("A1", P8, SEPT, "PM"): "\\"}
    assert _fact(warehouse) == {k: v for k, v in (rebuilt | restored).items() if k != q2}
