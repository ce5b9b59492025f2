"""Two landings of one feed at once (a CLI backfill beside a scheduled run, say): the newer one
discards the older, and the older, finishing later, stays discarded and leaves nothing staged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, select

from tests.helpers import batch_tables, staged_marks
from tests.scripted import T1, Scripted
from trustdata.adapters.base import Page, Stream, Window
from trustdata.domain.records import AttendanceMarkRecord
from trustdata.pipeline.land import LandingSuperseded, discard_unpublished, land
from trustdata.warehouse.tables import batches

ACADEMY = "oakfield"


def marks(day: date) -> list[AttendanceMarkRecord]:
    return [AttendanceMarkRecord(f"m-{day}-{s}", "P1", day, s, "/", T1) for s in ("AM", "PM")]


class Overtaken(Scripted):
    """Serves two pages; between them a newer landing of the same feed starts."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(marks(date(2025, 9, 15)))
        self.engine = engine

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        yield Page(self.records, T1)
        discard_unpublished(self.engine, ACADEMY, stream)  # what a newer landing does first
        yield Page(marks(date(2025, 9, 16)), T1)


def statuses(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(batches.c.status, batches.c.message)
            .where(batches.c.academy_id == ACADEMY)
            .order_by(batches.c.started_at)
        )
        return [(row.status, row.message) for row in rows]


def test_a_landing_overtaken_by_a_newer_one_stays_discarded_and_leaves_nothing(
    engine: Engine,
) -> None:
    with pytest.raises(LandingSuperseded, match="superseded by a newer landing") as caught:
        land(
            engine=engine,
            adapter=Overtaken(engine),
            academy_id=ACADEMY,
            stream=Stream.ATTENDANCE,
            window=Window(),
        )
    assert "P1" not in str(caught.value)  # ids and counts only
    assert statuses(engine) == [("discarded", "superseded by a newer landing")]
    assert batch_tables(engine) == [] and staged_marks(engine) == 0

    # The newer landing goes on as usual.
    newer = land(
        engine=engine,
        adapter=Scripted(marks(date(2025, 9, 17))),
        academy_id=ACADEMY,
        stream=Stream.ATTENDANCE,
        window=Window(),
    )
    assert newer.rows == 2 and staged_marks(engine) == 2
    assert [status for status, _ in statuses(engine)] == ["discarded", "landed"]
