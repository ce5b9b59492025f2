"""Two landings of one feed at once (a CLI backfill beside a scheduled run, say): the newer one
discards the older, and the older, finishing later, stays discarded and leaves nothing staged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

import pytest
from sqlalchemy import Engine, func, select

from tests.helpers import batch_tables, staged_marks
from tests.scripted import T1, Scripted
from trustdata.adapters.base import Page, Record, Stream, Window
from trustdata.domain.records import AttendanceMarkRecord, PupilRecord
from trustdata.domain.upn import make_upn
from trustdata.pipeline.land import LANDING, LandingSuperseded, discard_unpublished, land
from trustdata.warehouse.tables import batches

ACADEMY = "oakfield"


def marks(day: date) -> list[Record]:
    return [AttendanceMarkRecord(f"m-{day}-{s}", "P1", day, s, "/", T1) for s in ("AM", "PM")]


def pupils(day: date) -> list[Record]:
    """Two pupils, their ids told apart by ``day`` (each page of a read holds others)."""
    unknown = [None] * 12  # date of birth to leaving date: nothing the landing needs
    return [
        PupilRecord._make(
            [f"P{day.day}{n}", make_upn(990, 4001, 2025, day.day * 10 + n), *unknown, T1]
        )
        for n in (1, 2)
    ]


class Overtaken(Scripted):
    """Serves two pages; between them a newer landing of the same feed starts."""

    def __init__(self, engine: Engine, records: Callable[[date], Sequence[Record]]) -> None:
        super().__init__(records(date(2025, 9, 15)))
        self.engine = engine
        self.second = records(date(2025, 9, 16))

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        yield Page(self.records, T1)
        discard_unpublished(self.engine, ACADEMY, stream)  # what a newer landing does first
        yield Page(self.second, T1)


def shared_rows(engine: Engine, stream: Stream) -> int:
    """The stream's rows in its shared landing table (marks have tables of their own)."""
    table = LANDING[stream][0]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def statuses(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(batches.c.status, batches.c.message)
            .where(batches.c.academy_id == ACADEMY)
            .order_by(batches.c.started_at)
        )
        return [(row.status, row.message) for row in rows]


@pytest.mark.parametrize(
    ("stream", "records"),
    [(Stream.ATTENDANCE, marks), (Stream.PUPILS, pupils)],
    ids=["marks", "pupils"],
)
def test_a_landing_overtaken_by_a_newer_one_stays_discarded_and_leaves_nothing(
    engine: Engine, stream: Stream, records: Callable[[date], Sequence[Record]]
) -> None:
    with pytest.raises(LandingSuperseded, match="superseded by a newer landing") as caught:
        land(
            engine=engine,
            adapter=Overtaken(engine, records),
            academy_id=ACADEMY,
            stream=stream,
            window=Window(),
        )
    assert "P1" not in str(caught.value)  # ids and counts only
    assert statuses(engine) == [("discarded", "superseded by a newer landing")]
    assert batch_tables(engine) == [] and staged_marks(engine) == 0
    assert shared_rows(engine, stream) == 0

    # The newer landing goes on as usual.
    newer = land(
        engine=engine,
        adapter=Scripted(records(date(2025, 9, 17))),
        academy_id=ACADEMY,
        stream=stream,
        window=Window(),
    )
    assert newer.rows == 2
    assert staged_marks(engine) + shared_rows(engine, stream) == 2
    assert [status for status, _ in statuses(engine)] == ["discarded", "landed"]
