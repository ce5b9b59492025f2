"""Change-log sources: the pipeline keeps their cursor beside (or instead of) a timestamp.

A minimal in-test adapter stands for a source like Arbor, whose history is a revision
number; it yields deletions pages carrying cursors and no timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import httpx
from sqlalchemy import Engine, select

from trustdata.adapters.base import Adapter, AdapterOptions, Page, Stream, Window
from trustdata.domain.records import DeletionRecord
from trustdata.pipeline.audit import audit
from trustdata.pipeline.batches import read_position
from trustdata.pipeline.land import land
from trustdata.pipeline.publish import publish
from trustdata.warehouse.tables import batches


class RevisionSource(Adapter[AdapterOptions]):
    """Yields one page per planned cursor; remembers the window it was asked for."""

    kind: ClassVar[str] = "revisions"
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.DELETIONS})
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    plan: ClassVar[list[str | None]] = []
    asked: ClassVar[list[Window]] = []

    def check_connection(self) -> None:
        """Nothing to reach."""

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        """One deletion per planned page, with that page's cursor."""
        self.asked.append(window)
        for n, cursor in enumerate(self.plan):
            yield Page([DeletionRecord("pupil", f"R{n}", None)], None, cursor)


def run(engine: Engine, plan: list[str | None], window: Window) -> None:
    RevisionSource.plan = plan
    with httpx.Client() as client:
        source = RevisionSource(options=AdapterOptions(), secret="x", client=client)
        landed = land(
            engine=engine, adapter=source, academy_id="arb", stream=Stream.DELETIONS, window=window
        )
    audit(engine=engine, batch_id=landed.batch_id)
    publish(engine=engine, batch_id=landed.batch_id)


def position(engine: Engine) -> tuple[object, str | None]:
    with engine.connect() as conn:
        found = read_position(conn, "arb", "deletions", "revisions")
    return found.watermark, found.cursor


def test_last_page_cursor_is_stored_and_handed_back(engine: Engine) -> None:
    run(engine, ["5", "9"], Window())
    assert position(engine) == (None, "9")
    run(engine, [], Window(cursor="9"))  # nothing changed: the cursor stays
    assert position(engine) == (None, "9")
    run(engine, ["12"], Window(cursor="9"))
    assert position(engine) == (None, "12")
    with engine.connect() as conn:
        rows = conn.execute(
            select(batches.c.cursor_before, batches.c.cursor_after).order_by(batches.c.started_at)
        ).all()
    assert [tuple(r) for r in rows] == [(None, "9"), ("9", None), ("9", "12")]


def test_a_position_from_another_source_is_ignored(engine: Engine) -> None:
    run(engine, ["5"], Window())
    with engine.connect() as conn:
        assert read_position(conn, "arb", "deletions", "another-mis").cursor is None
