"""The sandbox MIS's HTTP API: a Wonde-shaped subset served from a :class:`Dataset`.

Responses are built with ``json.dumps`` rather than response models: a page of 1,000 marks is
the hot path and validation would only re-check what the index already built. Every route also
answers with a trailing slash, since Wonde's documentation writes paths both ways and an httpx
client does not follow redirects by default.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox_mis.fault_injector import WONDE, FaultInjector
from sandbox_mis.faults import Faults
from sandbox_mis.index import SchoolIndex
from sandbox_mis.models import Dataset
from sandbox_mis.query import ApiError, ListQuery, list_query, optional_date
from sandbox_mis.wire import INCLUDES, deletion_json, school_json, student_json

#: The API's base path; clients get it as part of the base URL.
BASE_PATH = "/v1.0"

router = APIRouter(prefix=f"{BASE_PATH}/schools/{{school_id}}")
_Endpoint = Callable[..., Coroutine[Any, Any, Response]]


def create_app(dataset: Dataset, faults: Faults | None = None) -> FastAPI:
    """Return the ASGI app serving ``dataset``, injecting ``faults`` if given.

    Each app counts its own requests, so two apps with the same faults fail the same way.
    """
    app = FastAPI(title="trustdata sandbox MIS", version="1.0")
    app.state.indexes = {
        school.id: SchoolIndex(school, dataset.school_days, position)
        for position, school in enumerate(dataset.schools, start=1)
    }
    app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    if faults is not None and faults != Faults():
        WONDE.scope(faults)  # a scope naming another API's resources fails here, not later
        app.add_middleware(FaultInjector, faults=faults, dialect=WONDE)
    return app


async def authorised_school(request: Request, school_id: str) -> SchoolIndex:
    """Return the school's index: 404 for an unknown school, then 401 for a wrong token."""
    index: SchoolIndex | None = request.app.state.indexes.get(school_id)
    if index is None:
        raise ApiError(404, "not_found", "No school with this id is available to this client.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token, index.school.token):
        raise ApiError(401, "unauthenticated", "A valid bearer token for this school is required.")
    return index


SchoolDep = Annotated[SchoolIndex, Depends(authorised_school)]
QueryDep = Annotated[ListQuery, Depends(list_query)]


def _get(path: str) -> Callable[[_Endpoint], _Endpoint]:
    """Register a GET route at ``path`` and at ``path/``."""

    def register(endpoint: _Endpoint) -> _Endpoint:
        router.add_api_route(path, endpoint, methods=["GET"])
        router.add_api_route(f"{path}/", endpoint, methods=["GET"], include_in_schema=False)
        return endpoint

    return register


@_get("")
async def get_school(school: SchoolDep) -> Response:
    """Return the school object."""
    return _json({"data": school_json(school.school), "meta": {}})


@_get("/students")
async def list_students(request: Request, school: SchoolDep, query: QueryDep) -> Response:
    """List students on roll (not leavers, not deleted)."""
    return _students(request, school, query, "students")


@_get("/students-leaver")
async def list_leavers(request: Request, school: SchoolDep, query: QueryDep) -> Response:
    """List students who have left this year."""
    return _students(request, school, query, "students-leaver")


@_get("/deletions")
async def list_deletions(request: Request, school: SchoolDep, query: QueryDep) -> Response:
    """List deleted objects; the sandbox only deletes students."""
    wanted = request.query_params.get("type")
    rows = (
        school.lists["deletions"].after(query.updated_after) if wanted in (None, "student") else []
    )
    page = rows[query.offset : query.offset + query.per_page]
    return _page(request, query, [deletion_json(s) for s in page], len(rows))


@_get("/attendance-codes")
async def list_attendance_codes(request: Request, school: SchoolDep, query: QueryDep) -> Response:
    """List the register codes the school uses (ids are this school's own)."""
    codes = school.codes()
    return _page(request, query, codes[query.offset : query.offset + query.per_page], len(codes))


@_get("/attendance/session")
async def list_session_marks(request: Request, school: SchoolDep, query: QueryDep) -> Response:
    """List session marks ordered by (updated_at, id), filtered by update time and date."""
    window = school.window(
        updated_after=query.updated_after,
        start_date=optional_date(request, "start_date"),
        end_date=optional_date(request, "end_date"),
    )
    marks = school.marks_json(window, query.offset, query.per_page)
    return _page(request, query, [], school.count(window), data_json=marks)


def _students(request: Request, school: SchoolIndex, query: ListQuery, kind: str) -> Response:
    includes = frozenset(request.query_params.get("include", "").split(",")) & INCLUDES
    rows = school.lists[kind].after(query.updated_after)
    style = school.school.flag_style
    page = [
        student_json(s, style, includes) for s in rows[query.offset : query.offset + query.per_page]
    ]
    return _page(request, query, page, len(rows))


def _page(
    request: Request,
    query: ListQuery,
    data: list[dict[str, Any]],
    total: int,
    *,
    data_json: str | None = None,
) -> Response:
    """Wrap one page of a list in Wonde's ``meta.pagination``.

    ``data_json``, when given, is the page's items already rendered (comma-separated JSON) and
    takes the place of ``data``; the body is the same text either way.
    """
    more = query.offset + query.per_page < total
    pagination = {
        "next": str(request.url.include_query_params(page=query.page + 1)) if more else None,
        "previous": (
            str(request.url.include_query_params(page=query.page - 1)) if query.page > 1 else None
        ),
        "more": more,
        "per_page": query.per_page,
        "current_page": query.page,
    }
    if data_json is None:
        return _json({"data": data, "meta": {"pagination": pagination}})
    meta = json.dumps({"pagination": pagination}, separators=(",", ":"))
    content = f'{{"data":[{data_json}],"meta":{meta}}}'
    return Response(content=content, status_code=200, media_type="application/json")


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    content = json.dumps(body, separators=(",", ":"))
    return Response(content=content, status_code=status_code, media_type="application/json")


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return _json({"error": error.error, "error_description": error.description}, error.status)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = "not_found" if error.status_code == 404 else "http_error"
    return _json({"error": code, "error_description": str(error.detail)}, error.status_code)


async def _validation_error(request: Request, error: Exception) -> Response:
    return _json({"error": "invalid_request", "error_description": str(error)}, 400)
