"""The attainment measures, end to end: hand-built KS2 and KS4 results in, mart_attainment_measures
out.

Runs in the session's warehouse database (tests/conftest.py) like test_attendance_measures.py:
the module empties the tables dbt reads, loads this cohort, builds only the mart and what it
needs, with a suppression threshold of 3 (so that small groups stay small), and empties them
(and drops the dbt schemas) when it is done. All pupils are synthetic (UPNs from make_upn).
Trust T1: hub HN = academy A1, hub HS = academy A2. Disadvantage comes from the pupil records'
flags (no periods); "D" = disadvantaged, "O" = other. "RWM" = reading >= 100, maths >= 100 and
writing EXS/GDS; "higher" = 110, 110 and GDS. Gap index: ranks ascending, ties at their mean,
20 x (mean rank O - mean rank D) / N.

KS2 2025 (2024-25) at A1, in CTF codes (REA, ENG/RD, MAT, WRI, ENG/WR):
  K1 D fsm6    R 99  M 100  W EXS  not RWM (reading 99)            index 99.5
               and an unmapped 'XYZ' result: in the fact with no measure, in no figure
  K2 D CLA     R B   M T    W PK6  a code pupil: in the denominator; B/T: tied at the bottom
  K3 D fsm6    R 100 M 101  W WTS  not RWM (writing)                 index 100.5
  K4 O service child (NOT disadvantaged)
               R 110 M 112  W GDS  RWM and higher                    index 111
  K5 O         R 110 M 109  W GDS  RWM, not higher (maths 109)       index 109.5
  K6 O         R 102 M 100  W EXS  RWM (maths exactly 100)           index 101
  K7 O         R A   M 106  W EXS  not RWM; A: left out of the index and counted
  all 7: RWM 3/7 = 42.86, higher 1/7 = 14.29; reading 521/5 = 104.20, maths 628/6 = 104.67.
  D 3: RWM 0.00, higher 0.00; only K1 and K3 have scores (2 < 3), so the mean scaled scores
    (99.50, 100.50) are withheld though the group is shown, and so are their gaps.
  O 4: RWM 3/4 = 75.00, higher 25.00, reading 322/3 = 107.33, maths 427/4 = 106.75.
  Gaps: -75.00, -25.00, NULL, NULL.
  Index: K2 1, K1 2, K3 3 | K6 4, K5 5, K4 6 -> D 2, O 5: 20 x 3 / 6 = 10.00 (every
    disadvantaged pupil below every other); N = 6, 1 excluded.
  fsm6: K1 K3 (2) suppressed, so not_fsm6 (5) is too. Gender F (K1 K2 K4) 3: RWM 33.33.
  X1 joined A1 (all-through) in Sep 2025 with his KS2 2025 results from his primary school
     (120 120 GDS): they are in the fact but not in A1's measures.
  K1 and K4 also have records at A2, which holds their KS2 2025 results too, and count at A1
     only: K1 left A2 in 2024 (before the tests); K4 is on both rolls, and joined A1 (2018)
     after A2 (2015). So no figure below counts them twice.
KS2 2025 at A2 (a primary: L4's KS4 grade there does not count), in CSV names (Reading,
Maths/Mathematics, Writing):
  L1 D fsm6 100 100 EXS | L2 D PLAC 104 104 EXS | L3 D fsm6 101 103 WTS
  L4 O 101 101 EXS      | L5 O 103 103 EXS      | L6 O 102 102 GDS
  all 6: RWM 5/6 = 83.33, higher 0.00, reading 611/6 = 101.83, maths 613/6 = 102.17.
  D: 66.67, reading 305/3 = 101.67, maths 307/3 = 102.33; O: 100.00, 102.00, 102.00.
  Index: L1 100 (1), L4 101 (2), L3 and L6 102 (3.5 each, across the groups), L5 103 (5),
    L2 104 (6) -> D (1 + 3.5 + 6) / 3 = 3.5 = O (2 + 3.5 + 5) / 3: 0.00.
KS2 2024 (2023-24) at A2: M1 D 100 100 EXS; M2 O 95 98 WTS; M3 O 105 101 EXS; M4 O 100 104 GDS
  all 4: RWM 75.00, reading 400/4 = 100.00, maths 403/4 = 100.75; D (1) suppressed, so O (3)
  is too: gaps and index NULL.
  A2 2025 against it: RWM 83.333 - 75 = 8.33; reading 101.833 - 100 = 1.83; maths
  102.167 - 100.75 = 1.42; the gap had no value last year, so no change.
Trust KS2 2025 (13 pupils): RWM 8/13 = 61.54 (the mean of the academy rates would be 63.10),
  higher 1/13 = 7.69, reading 1132/11 = 102.91, maths 1241/12 = 103.42. D 6: RWM 2/6 = 33.33;
  O 7: 6/7 = 85.71; gap -52.38. Change in RWM against 2024 (A2's four): 61.538 - 75 = -13.46.
  Index over the trust's 12 ranked pupils: K2 1, K1 2, L1 3, K3 4, L4 K6 5.5, L3 L6 7.5, L5 9,
  L2 10, K5 11, K4 12 -> D (1+2+3+4+7.5+10)/6 = 4.5833, O (5.5+5.5+7.5+9+11+12)/6 = 8.4167:
  20 x 3.8333 / 12 = 6.39 (not the mean of the academies' 10 and 0).

KS4 2025 (2024-25) at A1 (hub HN and the trust hold the same pupils). A8 = 2 x maths +
English (x 2 when both language and literature were taken) + 3 EBacc + 3 open slots:
  G1 O Lang 6, Lit 5, MAT 4, Combined Science 6-5, History 4, French 3, Art 6, Music 2, and
     an unmapped subject graded 9 (feeds nothing):
     8 + 2x6 + EBacc (5.5 + 5.5 + 4) + open (Art 6, Lit 5, French 3) = 49; 4+ yes, 5+ no.
  G2 O Lit 4 only, Maths 3, Biology 5, Chemistry 4, Physics U, Geography 6, Spanish X
     (absent: no grade), RS 5: 6 + 4 (single) + (6 + 5 + 4) + (RS 5, Physics 0) = 30; no.
  G3 D Lang 9, Lit 9, Maths 9, Combined Science 9, Computer Science 9, HIS 9, Geography 9,
     Art 9, Music 9: 18 + 18 + 27 + 27 = 90 (the maximum); 4+ and 5+.
  G4 D Lang U, Lit 8, Maths 7, Biology 7, Drama 6: U is taken, so English is double weighted
     (Lit 8) and Lang's 0 may fill an open slot: 14 + 16 + 7 + (6 + 0) = 43; 4+ and 5+.
  G5 D Lang 7, Maths 7: 14 + 7 = 21; 4+ and 5+.
  G6 O (a service child) Maths 4, History 4 (no English): 8 + 0 + 4 = 12; no (no English).
  all 6: A8 245/6 = 40.83; 4+ 4/6 = 66.67; 5+ 3/6 = 50.00.
  D: 154/3 = 51.33, 100.00, 100.00; O: 91/3 = 30.33, 33.33, 0.00.
  Gaps: A8 21.00, 4+ 66.67, 5+ 100.00.
  Index (mean of English and maths): G6 2, G2 3.5, G1 5 | G5 7, G4 7.5, G3 9 -> D 5, O 2:
    20 x (2 - 5) / 6 = -10.00 (every disadvantaged pupil above every other).
KS4 2024 (2023-24) at A1, language and maths only: H1 D 4 4 (A8 12), H2 D 5 5 (15), H3 D 3 2
  (7), H4 O 6 6 (18), H5 O E5 M4 (13), H6 O E4 M5 (14).
  all: A8 79/6 = 13.17, 4+ 5/6 = 83.33, 5+ 2/6 = 33.33. D: 11.33, 66.67, 33.33; O: 15.00,
  100.00, 33.33; gaps -3.67, -33.33, 0.00. Index: H3 2.5 (1), H1 4 (2), H5 H6 4.5 (3.5),
  H2 5 (5), H4 6 (6) -> D 8/3, O 13/3: 20 x (5/3) / 6 = 5.56.
  2025 against 2024: A8 40.833 - 13.167 = 27.67; 4+ -16.67; 5+ 16.67. Gaps: A8 21 - (-3.667)
  = 24.67; 4+ 100.00; 5+ 100.00; index -10 - 5.556 = -15.56.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from tests.helpers import api_key, bearer, query, reset_dbt_inputs, seed_two_hub_trust
from trustdata.domain.upn import make_upn
from trustdata.warehouse import tables
from trustdata.warehouse.dbt import run_dbt
from trustdata.warehouse.engine import get_engine

BATCH = uuid.UUID("00000000-0000-0000-0000-000000000007")
LOADED = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
K1, K2, K3, K4, K5, K6, K7 = (make_upn(990, 3001, 13, n) for n in range(1, 8))
L1, L2, L3, L4, L5, L6 = (make_upn(990, 3002, 13, n) for n in range(1, 7))
M1, M2, M3, M4 = (make_upn(990, 3002, 12, n) for n in range(1, 5))
G1, G2, G3, G4, G5, G6 = (make_upn(990, 3001, 8, n) for n in range(1, 7))
H1, H2, H3, H4, H5, H6 = (make_upn(990, 3001, 7, n) for n in range(1, 7))
X1 = make_upn(990, 3001, 13, 99)
JOINED = date(2025, 9, 3)  # X1's admission to A1, after the summer of his KS2 tests
# (academy, upn) -> (admission_date, leaving_date), where the record has them
ROLL_DATES = {
    ("A1", X1): (JOINED, None),
    ("A2", K1): (date(2018, 9, 3), date(2024, 7, 19)),
    ("A1", K4): (date(2018, 9, 3), None),
    ("A2", K4): (date(2015, 9, 1), None),
}

# (academy, upn, gender, fsm6, in_care, previously_in_care, service_child)
PUPILS = [
    ("A1", K1, "F", True, False, False, False),
    ("A1", K2, "F", False, True, False, False),
    ("A1", K3, "M", True, False, False, False),
    ("A1", K4, "F", False, False, False, True),
    ("A1", K5, "M", False, False, False, False),
    ("A1", K6, "M", False, False, False, False),
    ("A1", K7, "M", False, False, False, False),
    ("A2", L1, "F", True, False, False, False),
    ("A2", L2, "M", False, False, True, False),
    ("A2", L3, "F", True, False, False, False),
    ("A2", L4, "M", False, False, False, False),
    ("A2", L5, "F", False, False, False, False),
    ("A2", L6, "M", False, False, False, False),
    ("A2", M1, "F", True, False, False, False),
    *(("A2", upn, "M", False, False, False, False) for upn in (M2, M3, M4)),
    ("A1", G1, "F", False, False, False, False),
    ("A1", G2, "M", False, False, False, False),
    ("A1", G3, "F", True, False, False, False),
    ("A1", G4, "M", False, True, False, False),
    ("A1", G5, "F", True, False, False, False),
    ("A1", G6, "M", False, False, False, True),
    *(("A1", upn, "F", True, False, False, False) for upn in (H1, H2, H3)),
    *(("A1", upn, "M", False, False, False, False) for upn in (H4, H5, H6)),
    ("A1", X1, "M", False, False, False, False),
    ("A2", K1, "F", True, False, False, False),
    ("A2", K4, "F", False, False, False, True),
]

# (academy, upn, key_stage, assessment_year, subject, method, component, result)
Result = tuple[str, str, str, int, str, str, str, str]
Spelling = tuple[str, str, str]  # (subject, method, component) as the source writes them
CTF_KS2: tuple[Spelling, ...] = (("REA", "TT", ""), ("MAT", "TT", ""), ("WRI", "TA", ""))
CSV_KS2: tuple[Spelling, ...] = (("Reading", "TT", ""), ("Maths", "TT", ""), ("Writing", "TA", ""))


def _ks2(
    academy: str,
    upn: str,
    year: int,
    results: tuple[str, str, str],
    spellings: tuple[Spelling, ...] = CTF_KS2,
) -> list[Result]:
    return [
        (academy, upn, "KS2", year, subject, method, component, result)
        for (subject, method, component), result in zip(spellings, results, strict=True)
    ]


def _ks4(academy: str, upn: str, year: int, grades: dict[str, str]) -> list[Result]:
    return [(academy, upn, "KS4", year, s, "EX", "", g) for s, g in grades.items()]


RESULTS: list[Result] = [
    *_ks2("A1", K1, 2025, ("99", "100", "EXS")),
    ("A1", K1, "KS2", 2025, "XYZ", "TT", "", "50"),
    *_ks2(
        "A1", K2, 2025, ("B", "T", "PK6"), (("ENG", "TT", "RD"), CTF_KS2[1], ("ENG", "TA", "WR"))
    ),
    *_ks2("A1", K3, 2025, ("100", "101", "WTS")),
    *_ks2("A1", K4, 2025, ("110", "112", "GDS")),
    *_ks2("A1", K5, 2025, ("110", "109", "GDS")),
    *_ks2("A1", K6, 2025, ("102", "100", "EXS")),
    *_ks2("A1", K7, 2025, ("A", "106", "EXS")),
    *_ks2("A2", L1, 2025, ("100", "100", "EXS"), CSV_KS2),
    *_ks2("A2", L2, 2025, ("104", "104", "EXS"), CSV_KS2),
    *_ks2(
        "A2", L3, 2025, ("101", "103", "WTS"), (CSV_KS2[0], ("Mathematics", "TT", ""), CSV_KS2[2])
    ),
    *_ks2("A2", L4, 2025, ("101", "101", "EXS"), CSV_KS2),
    *_ks2("A2", L5, 2025, ("103", "103", "EXS"), CSV_KS2),
    *_ks2("A2", L6, 2025, ("102", "102", "GDS"), CSV_KS2),
    *_ks2("A2", M1, 2024, ("100", "100", "EXS"), CSV_KS2),
    *_ks2("A2", M2, 2024, ("95", "98", "WTS"), CSV_KS2),
    *_ks2("A2", M3, 2024, ("105", "101", "EXS"), CSV_KS2),
    *_ks2("A2", M4, 2024, ("100", "104", "GDS"), CSV_KS2),
    *_ks2("A1", X1, 2025, ("120", "120", "GDS")),
    *_ks2("A2", K1, 2025, ("99", "100", "EXS")),
    *_ks2("A2", K4, 2025, ("110", "112", "GDS")),
    *_ks4("A2", L4, 2025, {"Maths": "9"}),
    *_ks4(
        "A1",
        G1,
        2025,
        {
            "English Language": "6",
            "English Literature": "5",
            "MAT": "4",
            "Combined Science": "6-5",
            "History": "4",
            "French": "3",
            "Art and Design": "6",
            "Music": "2",
            "Underwater Basket Weaving": "9",
        },
    ),
    *_ks4(
        "A1",
        G2,
        2025,
        {
            "English Literature": "4",
            "Maths": "3",
            "Biology": "5",
            "Chemistry": "4",
            "Physics": "U",
            "Geography": "6",
            "Spanish": "X",
            "Religious Studies": "5",
        },
    ),
    *_ks4(
        "A1",
        G3,
        2025,
        dict.fromkeys(
            (
                "English Language",
                "English Literature",
                "Mathematics",
                "Combined Science",
                "Computer Science",
                "HIS",
                "Geography",
                "Art and Design",
                "Music",
            ),
            "9",
        ),
    ),
    *_ks4(
        "A1",
        G4,
        2025,
        {"English Language": "U", "English Literature": "8", "Maths": "7"}
        | {"Biology": "7", "Drama": "6"},
    ),
    *_ks4("A1", G5, 2025, {"English Language": "7", "Maths": "7"}),
    *_ks4("A1", G6, 2025, {"Maths": "4", "History": "4"}),
    *(
        row
        for upn, english, maths in (
            (H1, "4", "4"),
            (H2, "5", "5"),
            (H3, "3", "2"),
            (H4, "6", "6"),
            (H5, "5", "4"),
            (H6, "4", "5"),
        )
        for row in _ks4("A1", upn, 2024, {"English Language": english, "Maths": maths})
    ),
]

SOURCE_TABLES = (tables.assessment_results, tables.pupils, tables.academies, tables.hubs)
SOURCE_TABLES += (tables.trust, tables.characteristic_periods)
# Only the mart and what it needs. Cautious: leave out the tests of staging models this
# selection does not build (a relationships test reaches them from stg_academies).
BUILD = ["build", "--select", "+mart_attainment_measures", "--indirect-selection", "cautious"]


def _seed(engine: Engine) -> None:
    audit = {"batch_id": BATCH, "published_at": LOADED}
    with engine.begin() as conn:
        seed_two_hub_trust(conn, phases=("all-through", "primary"), adapter_kind="ctf")
        keys = ("academy_id", "upn", "gender", "fsm6", "in_care", "previously_in_care")
        keys += ("service_child",)
        conn.execute(
            insert(tables.pupils),
            [
                dict(zip(keys, p, strict=True))
                | {"mis_id": p[1], "date_of_birth": date(2010, 1, 10), "sen_status": "N"}
                | {"eal": False, **audit}
                | dict(
                    zip(
                        ("admission_date", "leaving_date"),
                        ROLL_DATES.get((p[0], p[1]), (None, None)),
                        strict=True,
                    )
                )
                for p in PUPILS
            ],
        )
        keys = ("academy_id", "upn", "key_stage", "assessment_year", "subject", "method")
        keys += ("component", "result")
        conn.execute(
            insert(tables.assessment_results),
            [dict(zip(keys, r, strict=True)) | {"mis_id": r[1], **audit} for r in RESULTS],
        )


@pytest.fixture(scope="module")
def warehouse(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session warehouse holding only the results above, the mart built by dbt."""
    engine = get_engine(warehouse_url)
    reset_dbt_inputs(engine, SOURCE_TABLES)
    try:
        _seed(engine)
        run_dbt(
            [*BUILD, "--vars", "{suppression_threshold: 3}"],
            url=warehouse_url,
            data_dir=tmp_path_factory.mktemp("dbt"),
        )
        yield warehouse_url
    finally:
        reset_dbt_inputs(engine, SOURCE_TABLES)


Key = tuple[str, str, str, str, str, str]


@pytest.fixture(scope="module")
def mart(warehouse: str) -> dict[Key, dict[str, Any]]:
    """The mart's rows by (level, unit, academic year, key stage, group type, group value)."""
    rows = query(warehouse, "SELECT * FROM marts.mart_attainment_measures")
    return {
        (
            r["level"],
            r["unit_id"],
            r["academic_year"],
            r["key_stage"],
            r["group_type"],
            r["group_value"],
        ): r
        for r in rows
    }


KS2 = ("pupils", "rwm_expected_rate", "rwm_higher_rate")
KS2 += ("reading_mean_scaled_score", "maths_mean_scaled_score")
KS4 = ("pupils", "attainment8_mean", "em_grade4_rate", "em_grade5_rate")
KS2_GAPS = ("rwm_expected_rate_gap_pp", "rwm_higher_rate_gap_pp")
KS2_GAPS += ("reading_mean_scaled_score_gap_points", "maths_mean_scaled_score_gap_points")
KS4_GAPS = ("attainment8_mean_gap_points", "em_grade4_rate_gap_pp", "em_grade5_rate_gap_pp")


def _figures(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str | None, ...]:
    """The row's figures as text, so that the scale (2 dp) is checked too."""
    return tuple(None if row[c] is None else str(row[c]) for c in columns)


def _row(
    mart: dict[Key, dict[str, Any]],
    level: str,
    unit: str,
    key_stage: str,
    group: tuple[str, str] = ("all", "all"),
    year: str = "2024-25",
) -> dict[str, Any]:
    return mart[level, unit, year, key_stage, *group]


DISADVANTAGED, OTHER = ("disadvantage", "disadvantaged"), ("disadvantage", "other")


def test_results_map_to_measure_subjects(warehouse: str) -> None:
    rows = query(
        warehouse,
        "SELECT upn, subject, component, measure_subject, ebacc_category, result_value,"
        " academic_year FROM marts.fct_assessment_results",
    )
    fact = {(r["upn"], r["subject"], r["component"]): r for r in rows}
    assert len(rows) == len(RESULTS)
    assert {r["academic_year"] for r in rows} == {"2023-24", "2024-25"}
    # CTF codes and CSV names reach the same measures.
    assert fact[K2, "ENG", "RD"]["measure_subject"] == fact[L1, "Reading", ""]["measure_subject"]
    assert fact[L3, "Mathematics", ""]["measure_subject"] == "maths"
    assert (fact[K1, "REA", ""]["result_value"], fact[K2, "ENG", "RD"]["result_value"]) == (
        Decimal("99"),
        None,
    )
    assert fact[G1, "Combined Science", ""]["result_value"] == Decimal("5.5")
    assert fact[G1, "Combined Science", ""]["ebacc_category"] == "science"
    assert fact[G2, "Physics", ""]["result_value"] == 0  # U
    assert fact[G2, "Spanish", ""]["result_value"] is None  # X: absent
    # Unmapped spellings stay visible (the warn test counts them) and feed nothing.
    unmapped = {(r["upn"], r["subject"]) for r in rows if r["measure_subject"] is None}
    assert unmapped == {(K1, "XYZ"), (G1, "Underwater Basket Weaving")}


def test_results_from_elsewhere_do_not_count(warehouse: str, mart: dict[Key, Any]) -> None:
    rows = query(
        warehouse,
        "SELECT upn, key_stage FROM marts.fct_assessment_results WHERE NOT counts_at_academy",
    )
    # X1's from his primary, L4's KS4 at a primary, and K1's and K4's copies at A2 (they count
    # at A1: test_a_pupils_results_count_at_one_academy).
    assert {(r["upn"], r["key_stage"]) for r in rows} == {
        (X1, "KS2"),
        (L4, "KS4"),
        (K1, "KS2"),
        (K4, "KS2"),
    }
    assert not any(key[1] == "A2" and key[3] == "KS4" for key in mart)


def test_a_pupils_results_count_at_one_academy(warehouse: str) -> None:
    rows = query(
        warehouse,
        "SELECT upn, academy_id, bool_and(counts_at_academy) AS counts"
        " FROM marts.fct_assessment_results WHERE key_stage = 'KS2'"
        " GROUP BY upn, academy_id",
    )
    counts = {(r["upn"], r["academy_id"]): r["counts"] for r in rows}
    # K1 left A2 before the tests; K4 is on both rolls and joined A1 last.
    assert counts[K1, "A1"] is True and counts[K1, "A2"] is False
    assert counts[K4, "A1"] is True and counts[K4, "A2"] is False
    assert counts[X1, "A1"] is False


def test_attainment8_per_pupil(warehouse: str) -> None:
    rows = query(
        warehouse,
        "SELECT upn, attainment8, english_double_weighted, em_grade4, em_grade5"
        " FROM analytics_intermediate.int_ks4_pupil_results",
    )
    got = {
        r["upn"]: (r["attainment8"], r["english_double_weighted"], r["em_grade4"], r["em_grade5"])
        for r in rows
    }
    assert got == {
        G1: (49, True, True, False),
        G2: (30, False, False, False),
        G3: (90, True, True, True),
        G4: (43, True, True, True),  # U in language still makes English double weighted
        G5: (21, False, True, True),
        G6: (12, False, False, False),
        H1: (12, False, True, False),
        H2: (15, False, True, True),
        H3: (7, False, False, False),
        H4: (18, False, True, True),
        H5: (13, False, True, False),
        H6: (14, False, True, False),
    }


def test_ks2_standards_per_pupil(warehouse: str) -> None:
    rows = query(
        warehouse,
        "SELECT upn, rwm_expected, rwm_higher, reading_code, maths_code, gap_index_ranked"
        " FROM analytics_intermediate.int_ks2_pupil_results WHERE academy_id = 'A1'",
    )
    got = {r["upn"]: tuple(r.values())[1:] for r in rows}
    assert got == {
        K1: (False, False, None, None, True),
        K2: (False, False, "B", "T", True),
        K3: (False, False, None, None, True),
        K4: (True, True, None, None, True),
        K5: (True, False, None, None, True),
        K6: (True, False, None, None, True),
        K7: (False, False, "A", None, False),
    }


def test_ks2_measures_and_gaps(mart: dict[Key, dict[str, Any]]) -> None:
    a1 = _row(mart, "academy", "A1", "KS2")
    assert _figures(a1, KS2) == ("7", "42.86", "14.29", "104.20", "104.67")
    assert (a1["gap_index_excluded_pupils"], a1["gap_index_ranked_pupils"]) == (1, 6)
    disadvantaged = _row(mart, "academy", "A1", "KS2", DISADVANTAGED)
    # K4, a service child, is among the others.
    assert _figures(disadvantaged, KS2) == ("3", "0.00", "0.00", None, None)
    assert _figures(disadvantaged, ("reading_scored_pupils", "maths_scored_pupils")) == ("2", "2")
    other = _row(mart, "academy", "A1", "KS2", OTHER)
    assert _figures(other, KS2) == ("4", "75.00", "25.00", "107.33", "106.75")
    for row in (a1, disadvantaged, other):
        assert _figures(row, KS2_GAPS) == ("-75.00", "-25.00", None, None)
    assert _figures(_row(mart, "academy", "A1", "KS2", ("gender", "F")), KS2[:2]) == (
        "3",
        "33.33",
    )
    a2 = _row(mart, "academy", "A2", "KS2")
    assert _figures(a2, KS2) == ("6", "83.33", "0.00", "101.83", "102.17")
    assert _figures(a2, KS2_GAPS) == ("-33.33", "0.00", "-0.33", "0.33")
    # KS4 measures are NULL on KS2 rows.
    assert _figures(a1, KS4[1:]) == (None, None, None)


def test_ks4_measures_and_gaps(mart: dict[Key, dict[str, Any]]) -> None:
    a1 = _row(mart, "academy", "A1", "KS4")
    assert _figures(a1, KS4) == ("6", "40.83", "66.67", "50.00")
    assert _figures(_row(mart, "academy", "A1", "KS4", DISADVANTAGED), KS4) == (
        "3",
        "51.33",
        "100.00",
        "100.00",
    )
    assert _figures(_row(mart, "academy", "A1", "KS4", OTHER), KS4) == (
        "3",
        "30.33",
        "33.33",
        "0.00",
    )
    assert _figures(a1, KS4_GAPS) == ("21.00", "66.67", "100.00")
    assert _figures(a1, KS2[1:]) == (None, None, None, None)
    # One academy: its hub and the trust show the same figures.
    for level, unit in (("hub", "HN"), ("trust", "T1")):
        assert _figures(_row(mart, level, unit, "KS4"), KS4 + KS4_GAPS) == _figures(
            a1, KS4 + KS4_GAPS
        )


def test_within_trust_gap_index(mart: dict[Key, dict[str, Any]]) -> None:
    def index(level: str, unit: str, key_stage: str, year: str = "2024-25") -> Decimal | None:
        value = _row(mart, level, unit, key_stage, year=year)["within_trust_gap_index"]
        assert value is None or isinstance(value, Decimal)
        return value

    assert index("academy", "A1", "KS2") == Decimal("10.00")  # every D below every O
    assert index("academy", "A2", "KS2") == Decimal("0.00")  # equal mean ranks, with a tie
    assert index("academy", "A1", "KS4") == Decimal("-10.00")  # every D above every O
    # Ranked within the trust, not averaged from the academies.
    assert index("trust", "T1", "KS2") == Decimal("6.39")
    assert _row(mart, "trust", "T1", "KS2")["gap_index_ranked_pupils"] == 12
    assert index("hub", "HN", "KS2") == Decimal("10.00")
    assert index("academy", "A1", "KS4", year="2023-24") == Decimal("5.56")
    # A2 in 2023-24: one disadvantaged pupil.
    assert index("academy", "A2", "KS2", year="2023-24") is None


def test_small_groups_are_suppressed(mart: dict[Key, dict[str, Any]]) -> None:
    def suppressed(row: dict[str, Any]) -> bool:
        if row["suppressed"]:
            assert _figures(row, KS2 + KS4[1:]) == (None,) * 8
        return bool(row["suppressed"])

    assert suppressed(_row(mart, "academy", "A1", "KS2", ("fsm6", "fsm6")))  # 2 pupils
    assert suppressed(_row(mart, "academy", "A1", "KS2", ("fsm6", "not_fsm6")))  # 5, secondary
    last_year = {
        group: _row(mart, "academy", "A2", "KS2", group, year="2023-24")
        for group in (DISADVANTAGED, OTHER, ("all", "all"))
    }
    assert suppressed(last_year[DISADVANTAGED]) and suppressed(last_year[OTHER])
    everyone = last_year["all", "all"]
    assert not suppressed(everyone)
    assert _figures(everyone, KS2) == ("4", "75.00", "0.00", "100.00", "100.75")
    assert _figures(everyone, KS2_GAPS) == (None,) * 4


def test_hub_and_trust_are_ratios_of_their_pupils(mart: dict[Key, dict[str, Any]]) -> None:
    trust = _row(mart, "trust", "T1", "KS2")
    # The mean of the academies' RWM rates would be (42.86 + 83.33) / 2 = 63.10.
    assert _figures(trust, KS2) == ("13", "61.54", "7.69", "102.91", "103.42")
    assert _figures(_row(mart, "trust", "T1", "KS2", DISADVANTAGED), KS2[:2]) == ("6", "33.33")
    assert _figures(_row(mart, "trust", "T1", "KS2", OTHER), KS2[:2]) == ("7", "85.71")
    assert trust["rwm_expected_rate_gap_pp"] == Decimal("-52.38")
    assert _figures(_row(mart, "hub", "HS", "KS2"), KS2) == _figures(
        _row(mart, "academy", "A2", "KS2"), KS2
    )


def test_trends_against_last_year(mart: dict[Key, dict[str, Any]]) -> None:
    ks4 = _row(mart, "academy", "A1", "KS4")
    changes = ("attainment8_mean_change_points", "em_grade4_rate_change_pp")
    changes += ("em_grade5_rate_change_pp",)
    assert _figures(ks4, changes) == ("27.67", "-16.67", "16.67")
    last_year = ("attainment8_mean_last_year", "em_grade4_rate_last_year")
    assert _figures(ks4, last_year) == ("13.17", "83.33")
    assert _figures(ks4, tuple(f"{g}_last_year" for g in KS4_GAPS)) == (
        "-3.67",
        "-33.33",
        "0.00",
    )
    assert _figures(ks4, tuple(f"{g}_change" for g in KS4_GAPS)) == ("24.67", "100.00", "100.00")
    assert _figures(ks4, ("within_trust_gap_index_last_year", "within_trust_gap_index_change")) == (
        "5.56",
        "-15.56",
    )
    a2 = _row(mart, "academy", "A2", "KS2")
    changes = ("rwm_expected_rate_change_pp", "reading_mean_scaled_score_change_points")
    changes += ("maths_mean_scaled_score_change_points",)
    assert _figures(a2, changes) == ("8.33", "1.83", "1.42")
    # Last year's gap was suppressed: no change to show.
    assert (a2["rwm_expected_rate_gap_pp_last_year"], a2["rwm_expected_rate_gap_pp_change"]) == (
        None,
        None,
    )
    trust = _row(mart, "trust", "T1", "KS2")
    assert trust["rwm_expected_rate_change_pp"] == Decimal("-13.46")
    # Nothing before 2023-24.
    assert _row(mart, "trust", "T1", "KS2", year="2023-24")["rwm_expected_rate_last_year"] is None


def test_the_api_serves_the_trust_attainment_as_json_and_csv(warehouse: str) -> None:
    """The read API over this mart: the trust's KS2 figures and gap index, paged, and CSV."""
    import csv
    import io

    import httpx

    from ingest_api.main import create_app
    from sandbox_mis.testing import running_app

    headers = bearer(api_key(get_engine(warehouse), "trust"))
    with (
        running_app(create_app(relay=False)) as root,
        httpx.Client(base_url=f"{root}/api/v1/trust", headers=headers) as api,
    ):
        params: dict[str, Any] = {"academic_year": "2024-25", "key_stage": "KS2"}
        body = api.get("/attainment", params=params).json()
        rows = {(r["group_type"], r["group_value"]): r for r in body["data"]}
        whole = rows[("all", "all")]
        assert (whole["level"], whole["id"], whole["pupils"]) == ("trust", "T1", 13)
        assert (whole["rwm_expected_rate"], whole["within_trust_gap_index"]) == (61.54, 6.39)
        assert {r["key_stage"] for r in body["data"]} == {"KS2"}
        paged = api.get("/attainment", params=params | {"limit": 2}).json()
        assert paged["count"] == 2 and paged["next_cursor"]
        rest = api.get("/attainment", params=params | {"cursor": paged["next_cursor"]}).json()
        assert paged["data"] + rest["data"] == body["data"]
        table = api.get("/attainment", params=params | {"format": "csv", "group_type": "all"})
        (row,) = csv.DictReader(io.StringIO(table.text))
        assert (row["rwm_expected_rate"], row["within_trust_gap_index"]) == ("61.54", "6.39")
        missing = api.get("/attainment", params={"academic_year": "2019-20"})
        assert missing.status_code == 404 and "years with data: 2024-25" in missing.text
