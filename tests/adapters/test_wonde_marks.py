"""The Wonde adapter's fast reading of session marks gives what its tolerant reading gives."""

from __future__ import annotations

import json
from typing import Any

import httpx

from trustdata.adapters.base import Stream, Window
from trustdata.adapters.wonde import WondeAdapter, WondeOptions

_CODES = [{"id": "AC1", "code": "/"}, {"id": "AC2", "code": "\\"}, {"id": 7, "code": "I"}]


def _php(moment: str, zone: str = "UTC") -> dict[str, Any]:
    return {"date": moment, "timezone_type": 3, "timezone": zone}


_MARKS: list[dict[str, Any]] = [
    {
        "id": "M00001",
        "student": "B1",
        "date": _php("2025-09-03 00:00:00.000000"),
        "session": "AM",
        "attendance_code": "AC1",
        "comment": None,
        "minutes_late": None,
        "updated_at": _php("2025-09-03 09:05:00.000000"),
    },
    {
        "id": 42,  # a numeric id, a relation as an include, a plain date and a local time
        "student": {"data": {"id": "B2"}},
        "date": "2025-09-03",
        "session": "pm",
        "attendance_code": 7,
        "updated_at": _php("2025-09-03 14:35:00.000000", "Europe/London"),
    },
    {"student": "B3", "date": _php("2025-09-04 00:00:00"), "attendance_code": "AC9"},
    {
        "id": "M00004",
        "student": "B4",
        "date": "2025-09-04",
        "attendance_code": "AC2",
        "session": None,
        "updated_at": None,
    },
]


def _marks(data: list[dict[str, Any]]) -> list[Any]:
    def handle(request: httpx.Request) -> httpx.Response:
        rows = _CODES if request.url.path.endswith("attendance-codes") else data
        body = {"data": rows, "meta": {"pagination": {"next": None, "more": False}}}
        return httpx.Response(200, content=json.dumps(body).encode())

    options = WondeOptions(school_id="A1", base_url="http://mis.test/v1.0")
    with httpx.Client(transport=httpx.MockTransport(handle)) as client:
        adapter = WondeAdapter(options=options, secret="token", client=client)
        pages = list(adapter.fetch(Stream.ATTENDANCE, Window()))
    return [(page.watermark, list(page.records)) for page in pages]


def test_fast_and_tolerant_readings_agree() -> None:
    fast = _marks(_MARKS)
    # A field of a shape the fast reading does not declare sends the page the tolerant way.
    odd = {"id": "M00005", "student": "B5", "date": "2025-09-05", "session": ["AM"]}
    tolerant = _marks([*_MARKS, odd])
    assert len(fast[0][1]) == 4 and len(tolerant[0][1]) == 5
    assert fast[0][1] == tolerant[0][1][:4]
    assert fast[0][0] == tolerant[0][0]
    first, second, third, fourth = fast[0][1]
    assert (second.mis_mark_id, second.mis_pupil_id, second.session) == ("42", "B2", "PM")
    assert (second.source_code, third.source_code, fourth.source_code) == ("I", "AC9", "\\")
    assert third.mis_mark_id is None and third.session == ""
    assert fourth.session == "NONE" and fourth.source_updated_at is None
    assert (first.source_code, first.mark_date.isoformat()) == ("/", "2025-09-03")
