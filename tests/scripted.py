"""A scripted adapter: a real implementation of the adapter contract whose pages are given by
the test, so each case states exactly what the MIS sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from trustdata.adapters.base import Adapter, AdapterOptions, Page, Record, Stream, Window

T1 = datetime(2025, 9, 1, 8, tzinfo=UTC)


class Scripted(Adapter[AdapterOptions]):
    """Serves the records the test gives it, one page per stream."""

    kind: ClassVar[str] = "scripted"
    streams: ClassVar[frozenset[Stream]] = frozenset(Stream)
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(
        self,
        records: Sequence[Record],
        stamp: datetime | None = T1,
        covers: Sequence[tuple[str, str]] = (),
    ) -> None:
        with httpx.Client() as client:
            super().__init__(options=AdapterOptions(), secret="", client=client)
        self.records = records
        self.stamp = stamp
        self.covers = covers

    def fetch(self, stream: Stream, window: Window) -> Iterator[Page]:
        yield Page(self.records, self.stamp, covers=self.covers)

    def check_connection(self) -> None:
        return None
