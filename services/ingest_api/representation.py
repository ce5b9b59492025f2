"""JSON or CSV, ETags and conditional GETs for the data routes.

A data route depends on ``negotiate``, which records whether the client asked for CSV
(``?format=csv`` or an ``Accept`` header preferring ``text/csv``). ``RepresentationMiddleware``
then turns the route's JSON into CSV (the ``data`` list, or the one object, flattened: nested
fields joined with ``_``), and gives every successful GET an ETag over the bytes sent, so a
client that sends ``If-None-Match`` with it gets a 304 and no body. Errors stay problem+json.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSV = "text/csv; charset=utf-8"

FormatQuery = Annotated[
    Literal["json", "csv"] | None,
    Query(
        description="csv for a CSV file (as Accept: text/csv does); default JSON",
        examples=["csv"],
    ),
]


async def negotiate(request: Request, format: FormatQuery = None) -> None:
    """Record whether this request wants CSV, for the middleware."""
    if format is None:
        format = "csv" if _prefers_csv(request.headers.get("accept", "")) else "json"
    request.state.csv = format == "csv"


def _prefers_csv(accept: str) -> bool:
    """True when text/csv has a higher quality in Accept than JSON (ties go to JSON)."""
    quality = {"csv": -1.0, "json": -1.0}
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = {"text/csv": "csv", "application/json": "json", "*/*": "json"}.get(media.strip())
        if kind is not None:
            quality[kind] = max(quality[kind], q)
    return quality["csv"] > max(quality["json"], 0.0)


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One level of columns from nested objects; lists become JSON text."""
    row: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            row |= flatten(item, f"{name}_")
        elif isinstance(item, list):
            row[name] = json.dumps(item, separators=(",", ":"))
        else:
            row[name] = item
    return row


def to_csv(body: Any) -> bytes:
    """The CSV of a JSON body: its ``data`` rows, or the body as one row."""
    rows = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
    flat = [flatten(r) if isinstance(r, dict) else {"value": r} for r in rows]
    columns: dict[str, None] = {}
    for row in flat:
        columns |= dict.fromkeys(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in flat:
        writer.writerow(
            {
                k: "" if v is None else str(v).lower() if isinstance(v, bool) else v
                for k, v in row.items()
            }
        )
    return out.getvalue().encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


class RepresentationMiddleware:
    """CSV conversion and ETags for successful GETs (pure ASGI: bodies here are small)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a GET's response, then send it as CSV and/or with an ETag (or a 304)."""
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        status, headers, body = start["status"], list(start.get("headers", [])), b"".join(chunks)
        if status == 200:
            if scope.get("state", {}).get("csv"):
                body = to_csv(json.loads(body))
                headers = [
                    (k, v)
                    for k, v in headers
                    if k.lower() not in (b"content-type", b"content-length")
                ]
                headers += [
                    (b"content-type", CSV.encode()),
                    (b"content-length", str(len(body)).encode()),
                ]
            etag = _etag(body)
            headers += [(b"etag", etag.encode()), (b"cache-control", b"private, no-cache")]
            headers += [(b"vary", b"Accept, Authorization")]
            request_headers = dict(scope.get("headers", []))
            if _matches(request_headers.get(b"if-none-match", b"").decode("latin-1"), etag):
                status, body = 304, b""
                headers = [
                    (k, v)
                    for k, v in headers
                    if k.lower() not in (b"content-type", b"content-length")
                ]
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
