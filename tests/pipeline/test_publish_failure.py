"""A publish that fails in the database: rolled back, recorded on its batch, retried.

The failure is real: a CHECK constraint the test adds to ``raw.attendance_marks`` rejects one
of the batch's marks, and PostgreSQL's DETAIL quotes the failing row (with its UPN), which
must reach neither the exception nor the batch record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, select, text

from tests.fakes import FakeWonde, mark, student
from tests.helpers import batch_tables, count, staged_marks, sync_stream
from trustdata import orchestration
from trustdata.domain.upn import make_upn
from trustdata.orchestration.freshness import freshness
from trustdata.warehouse.tables import attendance_marks, batches, watermarks

ACADEMY = "fakeacademy"
MON = date(2025, 9, 8)


def land_two_marks(config: str, second_code: str) -> tuple[str, FakeWonde]:
    """Publish a roll of two pupils, then land and audit one mark each; the batch and the MIS."""
    fake = FakeWonde(students=[student(1), student(2)])
    fake.marks = [mark("B1", MON, "AM", "/"), mark("B2", MON, "AM", second_code)]
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    landed = orchestration.land_stream(
        academy_id=ACADEMY, stream="attendance", config_path=config, transport=fake.transport()
    )
    orchestration.audit_stream(batch_id=landed["batch_id"], config_path=config)
    return landed["batch_id"], fake


@pytest.fixture
def audited(config: str, engine: Engine) -> Iterator[str]:
    """An audited batch of two marks, one of which raw.attendance_marks will refuse."""
    batch_id, _ = land_two_marks(config, "I")
    with engine.begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE raw.attendance_marks "
                "ADD CONSTRAINT td_test_no_illness CHECK (code <> 'I')"
            )
        )
    yield batch_id
    with engine.begin() as conn:
        conn.execute(
            text("ALTER TABLE raw.attendance_marks DROP CONSTRAINT IF EXISTS td_test_no_illness")
        )


def batch_record(engine: Engine, batch_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(batches.c.status, batches.c.message).where(batches.c.batch_id == batch_id)
        ).one()
    return row.status, row.message


def fail_once(config: str, batch_id: str) -> RuntimeError:
    with pytest.raises(RuntimeError) as failed:
        orchestration.publish_stream(batch_id=batch_id, config_path=config)
    return failed.value


def test_a_failed_publish_is_recorded_without_row_data_and_a_retry_publishes(
    config: str, engine: Engine, audited: str
) -> None:
    error = fail_once(config, audited)
    reason = "publish failed: CheckViolation (SQLSTATE 23514)"
    assert str(error) == f"batch {audited}: {reason}"
    assert error.__suppress_context__  # the database's message, quoting the row, is dropped
    assert make_upn(990, 2001, 20, 2) not in str(error)
    assert batch_record(engine, audited) == ("failed", reason)
    assert count(engine, attendance_marks) == 0
    with engine.connect() as conn:
        assert (
            conn.execute(select(watermarks).where(watermarks.c.stream == "attendance")).all() == []
        )
    (feed,) = [r for r in freshness(ACADEMY) if r["stream"] == "attendance"]
    assert (feed["latest_status"], feed["healthy"]) == ("failed", False)

    # The task's retry, once the cause is fixed: the same batch publishes in full.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE raw.attendance_marks DROP CONSTRAINT td_test_no_illness"))
    done = orchestration.publish_stream(batch_id=audited, config_path=config)
    assert (done["status"], done["rows_inserted"]) == ("published", 2)
    assert batch_record(engine, audited)[0] == "published"
    assert count(engine, attendance_marks) == 2
    with engine.connect() as conn:
        assert conn.execute(select(watermarks).where(watermarks.c.stream == "attendance")).all()


def test_a_newer_landing_discards_a_failed_publish(
    config: str, engine: Engine, audited: str
) -> None:
    fail_once(config, audited)
    assert staged_marks(engine) == 2  # rolled back: still staged for a retry
    assert batch_tables(engine) == [f"staging.attendance_landing_{uuid.UUID(audited).hex}"]
    again = orchestration.land_stream(
        academy_id=ACADEMY,
        stream="attendance",
        config_path=config,
        transport=FakeWonde(students=[student(1)]).transport(),
    )
    assert batch_record(engine, audited)[0] == "discarded"
    assert staged_marks(engine) == 0
    # The discarded batch's own table went with its rows; the new batch has its own.
    assert batch_tables(engine) == [
        f"staging.attendance_landing_{uuid.UUID(again['batch_id']).hex}"
    ]
    with pytest.raises(ValueError, match="is discarded"):
        orchestration.publish_stream(batch_id=audited, config_path=config)
    assert batch_record(engine, audited)[0] == "discarded"
    assert batch_record(engine, again["batch_id"])[0] == "landed"


def test_a_batch_whose_staging_was_emptied_is_refused_and_the_next_landing_recovers(
    config: str, engine: Engine
) -> None:
    batch_id, fake = land_two_marks(config, "\\")
    # What a crash does to an unlogged table: PostgreSQL resets it to empty on recovery.
    (own,) = batch_tables(engine)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {own}"))
    with pytest.raises(RuntimeError, match="staging holds 0 of the 2 attendance rows") as caught:
        orchestration.publish_stream(batch_id=batch_id, config_path=config)
    assert "land the stream again" in str(caught.value)
    status, message = batch_record(engine, batch_id)
    assert status == "failed" and "staging holds 0 of the 2" in (message or "")
    assert count(engine, attendance_marks) == 0
    with engine.connect() as conn:
        assert not conn.execute(select(watermarks).where(watermarks.c.stream == "attendance")).all()
    # The next run lands the marks again and publishes them.
    done = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert done["rows_published"] == 2
    assert batch_record(engine, batch_id)[0] == "discarded"
