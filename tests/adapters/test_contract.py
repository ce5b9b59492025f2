"""The adapter contract, run against every registered adapter.

Each adapter passes the same checks over its own fixture data (see ``harnesses.py``): declared
streams, strict options, a connection check, pages of the right canonical records with
watermarks (or change-log cursors), pupil-keyed records that name pupils of the same source,
an incremental read after the newest position that returns nothing new, and secrets that
never show in a repr or an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.adapters.harnesses import HARNESSES, Harness
from trustdata.adapters.base import (
    CHARACTERISTICS,
    RECORD_TYPES,
    REGISTRATIONS,
    AdapterError,
    Page,
    Stream,
    Window,
)
from trustdata.adapters.registry import adapter_class, known_kinds
from trustdata.domain.records import (
    CharacteristicPeriodRecord,
    DeletionRecord,
    EnrolmentRecord,
    PupilRecord,
)


def test_every_registered_adapter_has_a_harness() -> None:
    assert set(known_kinds()) == set(HARNESSES)


@pytest.fixture(params=known_kinds())
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as ready:
        yield ready


def _pages(harness: Harness, stream: Stream, window: Window) -> list[Page]:
    return list(harness.adapter.fetch(stream, window))


def test_declares_its_kind_streams_and_strict_options(harness: Harness) -> None:
    cls = type(harness.adapter)
    assert adapter_class(cls.kind) is cls
    assert Stream.PUPILS in cls.streams and cls.streams <= set(Stream)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        cls.Options.model_validate({**harness.options, "no_such_option": 1})


def test_connection_check_passes(harness: Harness) -> None:
    harness.adapter.check_connection()


def test_pages_hold_canonical_records_with_watermarks(harness: Harness) -> None:
    for stream in type(harness.adapter).streams:
        pages = _pages(harness, stream, Window())
        records = [r for p in pages for r in p.records]
        if stream is not Stream.DELETIONS:
            assert records, stream
        assert all(isinstance(r, RECORD_TYPES[stream]) for r in records), stream
        for page in pages:
            if page.records and page.cursor is None:
                # A timestamp source dates every page; a change-log source gives a cursor.
                assert isinstance(page.watermark, datetime) and page.watermark.tzinfo, stream
            if page.watermark is not None:
                assert page.watermark.tzinfo is not None, stream
        if stream is Stream.PUPILS:
            assert all(r.mis_id for r in records if isinstance(r, PupilRecord))
        for record in records:
            if isinstance(record, EnrolmentRecord):
                assert record.registration in (None, *REGISTRATIONS), stream
            elif isinstance(record, CharacteristicPeriodRecord):
                assert record.characteristic in CHARACTERISTICS, stream


def test_pupil_keyed_records_name_pupils_the_pupils_stream_holds(harness: Harness) -> None:
    """Every enrolment, period, result or summary points at a pupil of the same adapter."""
    streams = type(harness.adapter).streams
    roll = {r.mis_id for p in _pages(harness, Stream.PUPILS, Window()) for r in p.records}
    for stream in streams - {Stream.PUPILS, Stream.ATTENDANCE, Stream.DELETIONS}:
        records = [r for p in _pages(harness, stream, Window()) for r in p.records]
        named = {r.mis_pupil_id for r in records if not isinstance(r, PupilRecord | DeletionRecord)}
        assert named <= roll, stream


def test_nothing_new_after_the_newest_position(harness: Harness) -> None:
    for stream in type(harness.adapter).streams:
        pages = _pages(harness, stream, Window())
        marks = [p.watermark for p in pages if p.watermark]
        cursors = [p.cursor for p in pages if p.cursor]
        if not marks and not cursors:
            continue
        window = Window(
            updated_after=max(marks) if marks else None, cursor=cursors[-1] if cursors else None
        )
        later = _pages(harness, stream, window)
        assert sum(len(p.records) for p in later) == 0, stream


def test_secret_never_shows(harness: Harness) -> None:
    assert harness.secret not in repr(harness.adapter)
    if harness.wrong_secret_adapter is None:
        return
    with pytest.raises(AdapterError) as caught:
        harness.wrong_secret_adapter.check_connection()
    assert "s3cret-wrong" not in str(caught.value)


def test_logs_carry_no_pupil_data_or_secret(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A full read of every stream logs counts and ids only: no UPN, birth date or secret."""
    caplog.set_level("DEBUG")
    pupils = [r for p in _pages(harness, Stream.PUPILS, Window()) for r in p.records]
    for stream in type(harness.adapter).streams - {Stream.PUPILS}:
        _pages(harness, stream, Window())
    personal = {r.upn for r in pupils if isinstance(r, PupilRecord) and r.upn}
    personal |= {
        r.date_of_birth.isoformat()
        for r in pupils
        if isinstance(r, PupilRecord) and r.date_of_birth
    }
    assert personal
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [value for value in personal if value in logged]
    if harness.secret != "none":
        assert harness.secret not in logged
