"""Marks are published into one partition per academy and academic year.

A year not yet held is built as a table of its own and attached; a year held is upserted
through the parent. Through the real pipeline (the MIS a scripted fake behind an injected
transport) and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, Select, literal, select, text

from tests.fakes import FakeWonde, mark, student
from tests.helpers import count, sync_stream
from trustdata import orchestration
from trustdata.warehouse.partitions import (
    LEAF,
    attach_leaf,
    build_leaf,
    leaf_exists,
    leaf_name,
    lock_years,
    refresh_parent_statistics,
    year_of,
)
from trustdata.warehouse.tables import attendance_marks, attendance_marks_superseded, batches

ACADEMY = "fakeacademy"
SUMMER = date(2025, 7, 14)  # academic year 2024/25
AUTUMN = date(2025, 9, 8)  # academic year 2025/26


#: A mark's columns, for building a partition by hand.
MARK = ("academy_id", "upn", "mark_date", "session", "code", "source_code", "batch_id")


def one_mark(academy_id: str, day: date) -> Select[Any]:
    values = (academy_id, "A123456789012", day, "AM", "/", "/", uuid.uuid4())
    return select(*(literal(v).label(c) for v, c in zip(values, MARK, strict=True)))


def leaves(engine: Engine) -> list[str]:
    """The partitions of raw.attendance_marks, by name."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c "
                    "ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'raw.attendance_marks'::regclass ORDER BY 1"
                )
            ).scalars()
        )


def marks_on(day: date, *, code: str = "/", updated: str | None = None) -> list[dict[str, str]]:
    return [mark(f"B{n}", day, s, code, updated=updated) for n in (1, 2) for s in ("AM", "PM")]


def published(engine: Engine, batch_id: str) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(batches.c.rows_inserted, batches.c.rows_updated).where(
                batches.c.batch_id == batch_id
            )
        ).one()
    return row[0], row[1]


def test_a_first_load_builds_the_years_partition_with_the_parents_indexes(
    config: str, engine: Engine
) -> None:
    fake = FakeWonde(students=[student(1), student(2)], marks=marks_on(AUTUMN))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    result = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert result["rows_published"] == 4
    assert leaves(engine) == ["attendance_marks_fakeacademy_2025"]
    with engine.connect() as conn:
        # Each of the partition's indexes is attached to one of the parent's: none missing,
        # none built twice.
        attached = conn.execute(
            text(
                "SELECT count(*) FROM pg_index AS x JOIN pg_inherits AS i ON i.inhrelid = x.indexrelid "
                "WHERE x.indrelid = 'raw.attendance_marks_fakeacademy_2025'::regclass"
            )
        ).scalar_one()
        indexes = conn.execute(
            text(
                "SELECT count(*) FROM pg_index "
                "WHERE indrelid = 'raw.attendance_marks_fakeacademy_2025'::regclass"
            )
        ).scalar_one()
        analysed = conn.execute(
            text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relid = 'raw.attendance_marks_fakeacademy_2025'::regclass"
            )
        ).scalar_one()
        # The partition's indexes are numbered in the order of the parent's index names, so
        # every partition's ix0 is the same index whichever process built it.
        adopted = conn.execute(
            text(
                "SELECT c.relname, p.relname FROM pg_inherits AS i "
                "JOIN pg_class AS c ON c.oid = i.inhrelid JOIN pg_class AS p ON p.oid = i.inhparent "
                "JOIN pg_index AS x ON x.indexrelid = c.oid "
                "WHERE x.indrelid = 'raw.attendance_marks_fakeacademy_2025'::regclass "
                "AND NOT x.indisprimary ORDER BY c.relname"
            )
        ).all()
    assert attached == indexes == 1 + len(attendance_marks.indexes)
    assert [parent for _, parent in adopted] == sorted(i.name for i in attendance_marks.indexes)
    assert [leaf.rsplit("_", 1)[1] for leaf, _ in adopted] == ["ix0", "ix1"]
    assert analysed
    assert count(engine, attendance_marks) == 4
    assert published(engine, result["batch_id"]) == (4, 0)


def test_each_year_gets_its_partition_and_a_held_year_is_upserted(
    config: str, engine: Engine
) -> None:
    fake = FakeWonde(students=[student(1), student(2)], marks=marks_on(SUMMER))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert leaves(engine) == ["attendance_marks_fakeacademy_2024"]
    # After the summer: one summer mark corrected, and the first marks of the new year. The
    # read that brings them is still of the summer's year (its watermark's): the correction
    # goes into the held partition, and the new year's marks wait for the next read.
    fake.marks[0] = mark("B1", SUMMER, "AM", "I", updated="2025-09-08 10:00:00")
    fake.marks += marks_on(AUTUMN)
    corrected = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert published(engine, corrected["batch_id"]) == (0, 1)
    assert leaves(engine) == ["attendance_marks_fakeacademy_2024"]
    autumn = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert published(engine, autumn["batch_id"]) == (4, 0)
    assert leaves(engine) == [
        "attendance_marks_fakeacademy_2024",
        "attendance_marks_fakeacademy_2025",
    ]
    with engine.connect() as conn:
        by_year = dict(
            conn.execute(
                text(
                    "SELECT tableoid::regclass::text, count(*) FROM raw.attendance_marks "
                    "GROUP BY 1 ORDER BY 1"
                )
            ).all()
        )
        old = conn.execute(select(attendance_marks_superseded.c.code)).scalars().all()
    assert by_year == {
        "raw.attendance_marks_fakeacademy_2024": 4,
        "raw.attendance_marks_fakeacademy_2025": 4,
    }
    assert old == ["/"]
    # Run again: the held year upserts nothing, and no partition is made twice.
    again = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert again["rows_published"] == 0
    assert len(leaves(engine)) == 2


def backfill(config: str, year: str, transport: Any) -> dict[str, Any]:
    """Land, audit and publish one academic year of marks, as ``trustdata backfill`` does."""
    landed = orchestration.land_stream(
        academy_id=ACADEMY,
        stream="attendance",
        config_path=config,
        academic_year=year,
        transport=transport,
    )
    orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
    return orchestration.publish_stream(batch_id=landed["batch_id"], config_path=config)


def test_the_latest_of_each_key_is_kept_in_key_order_over_pupils_and_years(
    config: str, engine: Engine
) -> None:
    # The publish sorts by one integer packed from the pupil's rank, the day and the session:
    # three pupils over two academic years, backfilled a year at a time (a partition built
    # each), then read together into the held years (the day counted from the earlier year).
    students = [student(n) for n in (1, 2, 3)]
    days = (SUMMER, AUTUMN)
    marks = [mark(f"B{n}", day, s, "/") for n in (3, 1, 2) for day in days for s in ("PM", "AM")]
    fake = FakeWonde(students=students, marks=marks, per_page=5)
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    for year in ("2024-25", "2025-26"):
        assert backfill(config, year, fake.transport())["rows_inserted"] == 6
    with engine.connect() as conn:
        for year in (2024, 2025):
            leaf = f"raw.{leaf_name(ACADEMY, year)}"
            stored = conn.execute(text(f"SELECT upn, mark_date, session FROM {leaf}")).all()
            # Inserted in the primary key's order (by UPN bytes, date, session).
            assert stored == sorted(stored, key=lambda r: (r[0].encode(), r[1], r[2]))
            assert len(stored) == 6
    # The first incremental read: everything again, a correction in each year, each sent
    # twice (the newer version wins whichever comes first), and new marks on two days 512
    # days apart, one in each year. The days count from the start of the earlier year, so
    # packed with room for one year's days (1,024) the later day of one pupil would be the
    # earlier day of the next, and one of the two marks would be lost.
    late, later = "2025-09-09 10:00:00", "2025-09-09 11:00:00"
    fake.marks += [
        {**mark("B2", SUMMER, "PM", "I", updated=later), "id": "fix-1b"},
        {**mark("B2", SUMMER, "PM", "M", updated=late), "id": "fix-1a"},
        {**mark("B1", AUTUMN, "AM", "L", updated=late), "id": "fix-2a"},
        {**mark("B1", AUTUMN, "AM", "N", updated=later), "id": "fix-2b"},
        *(
            mark(f"B{n}", day, s, "/")
            for day in (date(2025, 1, 20), date(2026, 6, 16))
            for n in (1, 2, 3)
            for s in ("AM", "PM")
        ),
    ]
    fixed = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert published(engine, fixed["batch_id"]) == (12, 2)
    with engine.connect() as conn:
        codes = conn.execute(
            text(
                "SELECT p.mis_id, m.mark_date, m.session, m.code, m.mis_mark_id "
                "FROM raw.attendance_marks AS m JOIN raw.pupils AS p USING (academy_id, upn) "
                "WHERE m.code <> '/'"
            )
        ).all()
    assert sorted(codes) == [
        ("B1", AUTUMN, "AM", "N", "fix-2b"),
        ("B2", SUMMER, "PM", "I", "fix-1b"),
    ]
    assert count(engine, attendance_marks) == 24


def test_a_failed_publish_leaves_no_partition_behind(config: str, engine: Engine) -> None:
    fake = FakeWonde(students=[student(1), student(2)], marks=marks_on(AUTUMN, code="I"))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    with engine.begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE raw.attendance_marks ADD CONSTRAINT td_no_illness CHECK (code <> 'I')"
            )
        )
    try:
        with pytest.raises(RuntimeError, match="CheckViolation"):
            sync_stream(config, ACADEMY, "attendance", fake.transport())
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE raw.attendance_marks DROP CONSTRAINT td_no_illness"))
    assert leaves(engine) == []
    assert count(engine, attendance_marks) == 0


def test_a_second_publish_of_a_new_year_waits_for_the_first_and_then_finds_it(
    engine: Engine,
) -> None:
    seen: list[bool] = []

    def second() -> None:
        with engine.begin() as conn:
            lock_years(conn, ACADEMY, [2025])
            seen.append(leaf_exists(conn, ACADEMY, 2025))

    with engine.begin() as conn:
        lock_years(conn, ACADEMY, [2025])
        assert not leaf_exists(conn, ACADEMY, 2025)
        assert build_leaf(conn, ACADEMY, 2025, list(MARK), one_mark(ACADEMY, AUTUMN)) == 1
        attach_leaf(conn, ACADEMY, 2025)
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.3)
        assert seen == []  # still waiting on the first's lock
    waiting.join(timeout=30)
    assert seen == [True]


def test_two_years_of_one_academy_can_be_built_at_once(engine: Engine) -> None:
    # The longest academy id named as it is: PostgreSQL's own names for the two partitions'
    # indexes (and array types, had the names been a character longer) would be cut to the
    # same 63 characters, and the second build would wait on the first's uncommitted name and
    # then fail.
    academy = "a" + "b" * 39
    with engine.connect() as first, engine.connect() as second, first.begin():
        lock_years(first, academy, [2024])
        assert build_leaf(first, academy, 2024, list(MARK), one_mark(academy, SUMMER)) == 1
        with second.begin():
            second.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            lock_years(second, academy, [2025])
            assert build_leaf(second, academy, 2025, list(MARK), one_mark(academy, AUTUMN))
            attach_leaf(second, academy, 2025)
        attach_leaf(first, academy, 2024)
    assert leaves(engine) == [leaf_name(academy, 2024), leaf_name(academy, 2025)]


def test_a_year_with_no_marks_makes_no_partition(engine: Engine) -> None:
    with engine.begin() as conn:
        none = one_mark(ACADEMY, AUTUMN).where(literal(False))
        assert build_leaf(conn, ACADEMY, 2025, list(MARK), none) == 0
        assert not leaf_exists(conn, ACADEMY, 2025)


def test_partition_names() -> None:
    assert leaf_name("academy_001", 2025) == "attendance_marks_academy_001_2025"
    plain = "a" + "b" * 39
    assert leaf_name(plain, 2025) == f"attendance_marks_{plain}_2025"
    assert len(leaf_name(plain, 2025)) == 62  # one under PostgreSQL's limit on a name
    longest = "a" + "b" * 40  # the longest id the config allows
    assert leaf_name(longest, 2025).startswith("attendance_marks_h")
    odd = leaf_name("Oak-Field", 2025)
    assert odd.startswith("attendance_marks_h") and LEAF.fullmatch(odd)
    assert odd != leaf_name("oak-field", 2025)
    assert LEAF.fullmatch(leaf_name(longest, 2025))
    assert not LEAF.fullmatch("attendance_marks_superseded")
    assert (year_of(date(2025, 8, 31)), year_of(date(2025, 9, 1))) == (2024, 2025)
    with pytest.raises(ValueError, match="out of range"):
        leaf_name("academy_001", 25)


def test_the_parents_statistics_are_refreshed_when_missing_or_stale(
    config: str, engine: Engine
) -> None:
    fake = FakeWonde(students=[student(1), student(2)], marks=marks_on(AUTUMN))
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    with engine.begin() as conn:
        assert refresh_parent_statistics(conn)  # never analysed
    with engine.begin() as conn:
        assert not refresh_parent_statistics(conn)  # fresh
    school_days = [date(2025, 9, d) for d in range(9, 31) if date(2025, 9, d).weekday() < 5]
    fake.marks = [m for day in school_days for m in marks_on(day)]
    sync_stream(config, ACADEMY, "attendance", fake.transport())
    with engine.begin() as conn:
        assert refresh_parent_statistics(conn)  # 4 marks then, 68 now
