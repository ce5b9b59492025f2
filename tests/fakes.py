"""A scripted Wonde-shaped MIS behind ``httpx.MockTransport``, for edge cases.

The sandbox MIS serves realistic data; this fake serves exactly the records a test lists, so a
test can put one odd record in front of the pipeline. All data is made up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from trustdata.domain.upn import make_upn

BASE = "https://mis.test/v1.0"
SCHOOL = "A900"
TOKEN = "fake-token"


def stamp(text: str) -> dict[str, Any]:
    """A PHP DateTime object as Wonde writes it."""
    return {"date": f"{text}.000000", "timezone_type": 3, "timezone": "UTC"}


def student(
    n: int, *, upn: str | None = None, fsm6: bool = False, updated: str = "2025-08-31 02:00:00"
) -> dict[str, Any]:
    """A made-up student with a valid UPN unless one is given."""
    return {
        "id": f"B{n}",
        "mis_id": str(n),
        "gender": "F" if n % 2 else "M",
        "date_of_birth": stamp("2015-03-01 00:00:00"),
        "updated_at": stamp(updated),
        "education_details": {
            "data": {
                "upn": upn if upn is not None else make_upn(990, 2001, 20, n),
                "current_nc_year": "5",
                "admission_date": stamp("2021-09-01 00:00:00"),
                "leaving_date": None,
            }
        },
        "extended_details": {
            "data": {"free_school_meals_6": "Y" if fsm6 else "N", "free_school_meals": "N"}
        },
    }


def deletion(student_id: str, when: str) -> dict[str, Any]:
    """A row of the deletions resource."""
    return {
        "id": student_id,
        "type": "student",
        "deleted_at": stamp(when),
        "updated_at": stamp(when),
    }


def mark(
    student_id: str, day: date, session: str, code: str, *, updated: str | None = None
) -> dict[str, Any]:
    """A session mark; ``code`` is the code's own text (the fake's code ids equal the codes)."""
    when = updated or f"{day.isoformat()} {'09:05:00' if session == 'AM' else '13:35:00'}"
    return {
        "id": f"M{student_id}{day:%m%d}{session}",
        "student": student_id,
        "date": stamp(f"{day.isoformat()} 00:00:00"),
        "session": session,
        "attendance_code": f"C-{code}",
        "updated_at": stamp(when),
    }


@dataclass
class FakeWonde:
    """The fake MIS's state; mutate it between syncs to script a scenario."""

    students: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)
    school: str = SCHOOL
    per_page: int = 3
    fail_on_page: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        """The transport to hand to the pipeline."""
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": "unauthenticated"})
        if request.url.path.rstrip("/").endswith(f"/schools/{self.school}"):
            return httpx.Response(200, json={"data": {"id": self.school, "name": "Fake Academy"}})
        if f"/schools/{self.school}/" not in request.url.path:
            return httpx.Response(404, json={"error": "not_found"})
        resource = request.url.path.split(f"/schools/{self.school}/", 1)[-1].strip("/")
        rows: list[dict[str, Any]]
        if resource == "students":
            rows = self.students
        elif resource == "students-leaver":
            rows = []
        elif resource == "attendance-codes":
            codes = sorted({m["attendance_code"] for m in self.marks})
            rows = [{"id": c, "code": c.removeprefix("C-")} for c in codes]
        elif resource == "attendance/session":
            rows = self.marks
        elif resource == "deletions":
            rows = self.deletions
        else:
            return httpx.Response(404, json={"error": "not_found"})
        after = request.url.params.get("updated_after")
        if after:
            rows = [r for r in rows if r["updated_at"]["date"][:19] > after]
        page = int(request.url.params.get("page", "1"))
        if resource == "attendance/session" and self.fail_on_page == page:
            return httpx.Response(200, content=b'{"data": [{"id": ')  # truncated body
        chunk = rows[(page - 1) * self.per_page : page * self.per_page]
        more = page * self.per_page < len(rows)
        query = dict(request.url.params)
        query["page"] = str(page + 1)
        next_url = str(request.url.copy_with(params=query)) if more else None
        body = {
            "data": chunk,
            "meta": {"pagination": {"next": next_url, "more": more, "current_page": page}},
        }
        return httpx.Response(200, content=json.dumps(body).encode())


def fake_trust_config(folder: Any, *, code_map: dict[str, str] | None = None) -> str:
    """A one-academy trust config pointing at the fake MIS; returns its path."""
    from tests.helpers import one_academy_config

    options = {"base_url": BASE, "school_id": SCHOOL, "max_retries": 0}
    return str(
        one_academy_config(
            folder,
            academy_id="fakeacademy",
            urn="990900",
            kind="wonde",
            options=options,
            credential_env="TD_FAKE_TOKEN",
            code_map=code_map,
        )
    )
