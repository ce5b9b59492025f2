"""ASGI middleware that injects :class:`~sandbox_mis.faults.Faults` into the sandbox's answers.

It sits in front of the routes so the API itself stays fault-free: it answers 429 and 5xx
itself, delays, rewrites the page a route sees (repeated pages) and cuts bodies short. Its
counters belong to one app instance and are guarded by a lock, so the faults a client meets
depend only on the order of its requests.

The same faults serve both of the sandbox's APIs; a :class:`Dialect` says how each one names
its resources and pages and what its error bodies look like (:data:`WONDE`, :data:`ARBOR`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox_mis import arbor_wire
from sandbox_mis.faults import ARBOR_RESOURCES, LIST_RESOURCES, SCHOOL_RESOURCE, Faults

_SCHOOLS_PREFIX = "/v1.0/schools/"
FAULT_HEADER = b"x-sandbox-fault"
"""Names the faults (``slow``, ``truncate``) put into a 200 response, so a test can see them."""
_DESCRIPTIONS = {
    429: ("rate_limited", "Too many requests: retry after the time in Retry-After."),
    500: ("server_error", "Internal server error (injected by the sandbox)."),
    502: ("bad_gateway", "The upstream MIS did not answer (injected by the sandbox)."),
    503: ("unavailable", "The service is temporarily unavailable (injected by the sandbox)."),
}
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one of the sandbox's APIs names resources and pages, and shapes an error body.

    ``resource`` maps a path to the resource name ``Faults.resources`` uses (None: never
    faulted); ``paged`` are its default scope; ``unpaged`` are names that may be put in scope
    but have no pages; ``pagination`` says whether bodies carry Wonde's ``meta.pagination``,
    which a repeated page must rewrite.
    """

    name: str
    resource: Callable[[str], str | None]
    paged: frozenset[str]
    unpaged: frozenset[str]
    page_param: str
    error_body: Callable[[int], dict[str, Any]]
    pagination: bool

    def scope(self, faults: Faults) -> frozenset[str]:
        """The resources ``faults`` apply to in this API; ValueError for names it lacks."""
        if faults.resources is None:
            return self.paged
        unknown = faults.resources - self.paged - self.unpaged
        if unknown:
            raise ValueError(
                f"fault scope {sorted(unknown)} names no resource of the {self.name} API "
                f"(known: {', '.join(sorted(self.paged | self.unpaged))})"
            )
        return faults.resources


def _wonde_resource(path: str) -> str | None:
    """The resource a Wonde path names (``"school"`` for the school itself), or None."""
    if not path.startswith(_SCHOOLS_PREFIX):
        return None
    _, _, rest = path[len(_SCHOOLS_PREFIX) :].partition("/")
    rest = rest.strip("/")
    if not rest:
        return SCHOOL_RESOURCE
    return rest if rest in LIST_RESOURCES else None


def _wonde_error(status: int) -> dict[str, Any]:
    error, description = _DESCRIPTIONS[status]
    return {"error": error, "error_description": description}


def _arbor_resource(path: str) -> str | None:
    """The list or changelog an Arbor path names (``students``, ``students/changelog``)."""
    _, prefix, rest = path.partition(arbor_wire.REST_PREFIX + "/")
    rest = rest.strip("/")
    return rest if prefix and rest in ARBOR_RESOURCES else None


def _arbor_error(status: int) -> dict[str, Any]:
    return arbor_wire.error(status, _REASONS[status], _DESCRIPTIONS[status][1])


WONDE = Dialect(
    "Wonde-shaped",
    _wonde_resource,
    LIST_RESOURCES,
    frozenset({SCHOOL_RESOURCE}),
    "page",
    _wonde_error,
    pagination=True,
)
ARBOR = Dialect(
    "Arbor-style",
    _arbor_resource,
    ARBOR_RESOURCES,
    frozenset(),
    "page-number",
    _arbor_error,
    pagination=False,
)


class FaultInjector:
    """Inject ``faults`` into requests for the resources they name, in ``dialect``'s API."""

    def __init__(self, app: ASGIApp, faults: Faults, dialect: Dialect = WONDE) -> None:
        self.app = app
        self.faults = faults
        self.dialect = dialect
        self.scope = dialect.scope(faults)
        self._lock = threading.Lock()
        self._requests = 0
        self._faulted_once: set[tuple[str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, with whatever fault its position calls for."""
        resource = self.dialect.resource(scope["path"]) if scope["type"] == "http" else None
        if resource is None or resource not in self.scope:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        page = self._page(request) if resource in self.dialect.paged else None
        status, slow, truncate = self._decide(request, page)
        if status is not None:
            await self._error(status)(scope, receive, send)
            return
        if slow:
            await asyncio.sleep(self.faults.slow_seconds)
        tags = [kind for kind, hit in (("slow", slow), ("truncate", truncate)) if hit]
        if tags:
            send = _tagged(send, ",".join(tags))
        reshaped = page is not None and (
            self.faults.data_page(page) != page or page in self.faults.repeat_pages
        )
        if not (reshaped or truncate):
            await self.app(scope, receive, send)
            return
        inner = scope
        if page is not None and reshaped:
            served = {self.dialect.page_param: self.faults.data_page(page)}
            query = request.url.include_query_params(**served).query
            inner = {**scope, "query_string": query.encode("latin-1")}
        start, body = await _capture(self.app, inner, receive)
        if start.get("status") == 200:
            if page is not None and reshaped and self.dialect.pagination:
                body = self._repaginate(body, request, page)
            if truncate:
                body = body[: len(body) // 2]
        await _replay(send, start, body)

    def _page(self, request: Request) -> int | None:
        """The page asked for; None for a malformed one, which the route answers with a 400."""
        text = request.query_params.get(self.dialect.page_param, "1")
        return int(text) if text.isdigit() and int(text) >= 1 else None

    def _decide(self, request: Request, page: int | None) -> tuple[int | None, bool, bool]:
        """Count the request; return (status to inject, be slow, truncate)."""
        faults = self.faults
        with self._lock:
            self._requests += 1
            status = faults.status_for(self._requests)
            if status is not None or page is None:
                return status, False, False
            url = str(request.url)
            slow = page in faults.slow_pages and self._first("slow", url, faults.slow_always)
            truncate = page in faults.truncate_pages and self._first(
                "truncate", url, faults.truncate_always
            )
            return None, slow, truncate

    def _first(self, kind: str, url: str, always: bool) -> bool:
        """Whether to fault this URL now: always, or only the first time (lock held)."""
        if always:
            return True
        if (kind, url) in self._faulted_once:
            return False
        self._faulted_once.add((kind, url))
        return True

    def _repaginate(self, body: bytes, request: Request, page: int) -> bytes:
        """Rewrite ``meta.pagination`` so the served page keeps its own number and links."""
        document: dict[str, Any] = json.loads(body)
        pagination = document["meta"]["pagination"]
        more = bool(pagination.get("more")) or page in self.faults.repeat_pages
        pagination.update(
            next=str(request.url.include_query_params(page=page + 1)) if more else None,
            previous=str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
            more=more,
            current_page=page,
        )
        return json.dumps(document, separators=(",", ":")).encode()

    def _error(self, status: int) -> Response:
        headers = {"Retry-After": str(self.faults.retry_after)} if status == 429 else None
        content = json.dumps(self.dialect.error_body(status))
        return Response(content, status_code=status, headers=headers, media_type="application/json")


def _tagged(send: Send, faults: str) -> Send:
    """``send`` with an ``X-Sandbox-Fault`` header naming the faults put into the response."""

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (FAULT_HEADER, faults.encode())]
            message = {**message, "headers": headers}
        await send(message)

    return tagged


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run the app and keep its response start message and whole body."""
    start: Message = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start, b"".join(chunks)


async def _replay(send: Send, start: Message, body: bytes) -> None:
    """Send a captured response with ``body`` and a Content-Length to match it."""
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
