"""What the paged and per-year routes share: opaque cursors, Link headers, the year asked for."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import Query, Request, Response

from ingest_api.problems import Problem

CursorQuery = Annotated[
    str | None,
    Query(max_length=400, description="next_cursor of the previous page; leave out to start"),
]


def encode_cursor(key: list[str]) -> str:
    """An opaque cursor for a sort key of text values (never pupil data)."""
    text = json.dumps(key, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def bad_cursor() -> Problem:
    """The 422 for a cursor this API did not give."""
    return Problem(
        422,
        "Invalid request parameters",
        "cursor: not a cursor this API gave; pass next_cursor from the previous page, or leave "
        "it out to start again",
    )


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The sort key of a cursor this API gave; 422 for anything else."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad_cursor() from exc
    if isinstance(key, list) and len(key) == parts and all(isinstance(k, str) for k in key):
        return key
    raise bad_cursor()


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Point a ``Link: rel="next"`` header at the next page, when there is one."""
    if next_cursor is not None:
        following = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{following}>; rel="next"'


def resolve_year(
    years: list[str], asked: str | None, *, what: str, level: str, unit_id: str
) -> str:
    """The year asked for, or the latest with data; 404 naming the years there are."""
    year = asked or (years[0] if years else None)
    if year is None or year not in years:
        detail = f"no {what} for {level} {unit_id!r}" + (
            f" in {year}; years with data: {', '.join(years)}" if years else " yet"
        )
        raise Problem(404, "No data", detail, years_available=years)
    return year
