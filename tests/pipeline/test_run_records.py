"""Run records: each batch's inserted/updated/removed counts, and freshness per feed.

Through the real pipeline and PostgreSQL, with the scripted Wonde fake behind an injected
transport; ``trustdata status`` reads ``meta.freshness``.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from tests.fakes import FakeWonde, mark, student
from tests.helpers import sync_stream
from trustdata.cli import main
from trustdata.orchestration.freshness import freshness
from trustdata.pipeline.publish import BatchBlocked
from trustdata.warehouse.tables import batches

ACADEMY = "fakeacademy"
MON = date(2025, 9, 8)


def test_counts_and_freshness(
    config: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeWonde(students=[student(1), student(2)])
    fake.marks = [mark(f"B{n}", MON, "AM", "/") for n in (1, 2)]
    sync_stream(config, ACADEMY, "pupils", fake.transport())
    first = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert (first["rows_inserted"], first["rows_updated"], first["rows_removed"]) == (2, 0, 0)
    # A register correction: one mark updated, nothing inserted.
    fake.marks[0] = mark("B1", MON, "AM", "I", updated="2025-09-09 09:00:00")
    again = sync_stream(config, ACADEMY, "attendance", fake.transport())
    assert (again["rows_inserted"], again["rows_updated"]) == (0, 1)
    with engine.connect() as conn:
        stored = conn.execute(
            select(batches.c.rows_inserted, batches.c.rows_updated)
            .where(batches.c.stream == "attendance")
            .order_by(batches.c.started_at)
        ).all()
    assert [tuple(r) for r in stored] == [(2, 0), (0, 1)]

    assert main(["--config", config, "status"]) == 0
    out = capsys.readouterr().out
    assert "fakeacademy    attendance" in out and "published" in out

    # The feed starts failing: freshness keeps the last success beside the latest failure.
    fake.marks[1] = mark("B2", MON, "AM", "Q9", updated="2025-09-10 09:00:00")
    with pytest.raises(BatchBlocked):
        sync_stream(config, ACADEMY, "attendance", fake.transport())
    (row,) = [r for r in freshness(ACADEMY) if r["stream"] == "attendance"]
    assert row["latest_status"] == "blocked" and row["last_published_at"] is not None
    assert "'Q9' x 1" in row["latest_message"]
    assert main(["--config", config, "status", ACADEMY]) == 1
    out = capsys.readouterr().out
    assert "blocked" in out and "'Q9' x 1" in out


def test_status_of_an_unknown_academy_is_an_error(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "status", "nosuch"]) == 2
    assert "no academy 'nosuch'" in capsys.readouterr().err


def test_status_before_any_run_says_so(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config, "status"]) == 0
    assert "no feed has run yet" in capsys.readouterr().out


def test_status_names_mis_events_waiting_for_airflow(
    config: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from trustdata.orchestration.outbox import store_event

    store_event(engine, academy_id="fakeacademy", event_id="evt-1", event_type="students.updated")
    main(["--config", config, "status"])
    assert "fakeacademy: 1 MIS event(s) not yet relayed" in capsys.readouterr().out


def test_relay_once_says_what_to_set_and_what_is_waiting(
    config: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from trustdata.config.settings import get_settings
    from trustdata.orchestration.outbox import store_event

    monkeypatch.delenv("TRUSTDATA_AIRFLOW_API_URL", raising=False)
    get_settings.cache_clear()
    assert main(["--config", config, "relay", "--once"]) == 2
    assert "TRUSTDATA_AIRFLOW_API_URL" in capsys.readouterr().err

    store_event(engine, academy_id=ACADEMY, event_id="evt-1", event_type="attendance.updated")
    with socket.socket() as sock:  # a port nothing listens on: Airflow is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TRUSTDATA_AIRFLOW_API_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    try:
        assert main(["--config", config, "relay", "--once"]) == 1
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    said = capsys.readouterr().out
    assert "delivered 0 event(s)" in said and "1 waiting" in said
    assert "is the api-server up?" in said
