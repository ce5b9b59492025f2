"""The sandbox MIS as an Arbor-style REST API, over the same dataset as the Wonde-shaped one.

Arbor gives each school its own host; one sandbox app serves every school under its own base
path instead: ``/{school_id}/rest-v2/...``, with HTTP Basic auth (user: the school id,
password: the school's token). Responses are built with ``json.dumps``, as in
:mod:`sandbox_mis.app`, because a page of 1,000 records or changes is the hot path.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox_mis import arbor_wire as wire
from sandbox_mis.arbor_index import ArborSchool
from sandbox_mis.fault_injector import ARBOR, FaultInjector
from sandbox_mis.faults import Faults
from sandbox_mis.models import Dataset

#: Page size when the client does not ask for one, and the largest the server returns.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: The most ids one ``filters.id.in`` may list.
MAX_FILTER_IDS = 1000
_ID_FILTER = "filters.id.in"

router = APIRouter(prefix=f"/{{school_id}}{wire.REST_PREFIX}")


class ArborError(Exception):
    """An error response in Arbor's shape: HTTP status, reason phrase and one message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


#: The resources served as lists: {path: (list key, single-object key)}. Lists are wrapped by
#: the camel-cased plural, single objects by the camel-cased singular.
LISTINGS: dict[str, tuple[str, str]] = {
    "students": ("students", "student"),
    "persons": ("persons", "person"),
    "ukdfe-upn-assignments": ("ukdfeUpnAssignments", "ukdfeUpnAssignment"),
    "ukdfe-free-school-meal-eligibilities": (
        "ukdfeFreeSchoolMealEligibilities",
        "ukdfeFreeSchoolMealEligibility",
    ),
    "ukdfe-pupil-premium-recipients": (
        "ukdfePupilPremiumRecipients",
        "ukdfePupilPremiumRecipient",
    ),
    "in-care-status-assignments": ("inCareStatusAssignments", "inCareStatusAssignment"),
    "attendance-marks": ("attendanceMarks", "attendanceMark"),
}


def create_arbor_app(dataset: Dataset, faults: Faults | None = None) -> FastAPI:
    """Return the ASGI app serving ``dataset`` the Arbor way, every school under its id,
    injecting ``faults`` into its lists and changelogs if given (see :mod:`sandbox_mis.faults`).

    Each app counts its own requests, so two apps with the same faults fail the same way.
    """
    app = FastAPI(title="trustdata sandbox MIS (Arbor-style)", version="1.0")
    app.state.arbor = {
        school.id: ArborSchool(school, dataset.school_days, position, dataset.start_year)
        for position, school in enumerate(dataset.schools, start=1)
    }
    app.include_router(router)
    app.add_exception_handler(ArborError, _arbor_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    if faults is not None and faults != Faults():
        ARBOR.scope(faults)  # a scope naming Wonde's resources fails here, not on a request
        app.add_middleware(FaultInjector, faults=faults, dialect=ARBOR)
    return app


async def authorised_school(request: Request, school_id: str) -> ArborSchool:
    """Return the school: 404 for an unknown school, then 401 unless Basic auth matches."""
    view: ArborSchool | None = request.app.state.arbor.get(school_id)
    if view is None:
        raise ArborError(404, "Not Found", "No school is served at this address.")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:  # bad base64 (binascii.Error) or bad UTF-8 (UnicodeDecodeError)
        user = password = ""
    # Compare both parts always, as bytes, so timing reveals neither which part was wrong.
    user_ok = secrets.compare_digest(user.encode(), school_id.encode())
    password_ok = secrets.compare_digest(password.encode(), view.school.token.encode())
    if scheme.lower() != "basic" or not (user_ok and password_ok):
        raise ArborError(401, "Unauthorized", "Valid HTTP Basic credentials are required.")
    return view


SchoolDep = Annotated[ArborSchool, Depends(authorised_school)]


@router.get("/{resource}/changelog")
async def changelog(request: Request, school: SchoolDep, resource: str) -> Response:
    """List the changes of ``resource`` after ``from-revision`` up to ``to-revision``."""
    feed = school.feeds.get(resource)
    if feed is None:
        raise ArborError(404, "Not Found", "This resource has no changelog.")
    params = request.query_params
    current = school.current_revision
    after = _int(params.get("from-revision"), "from-revision", 0, minimum=0)
    upto = min(_int(params.get("to-revision"), "to-revision", current, minimum=0), current)
    first, last = feed.rank(after), max(feed.rank(after), feed.rank(upto))
    offset, size = _paging(request)
    changes = feed.changes(first + offset, min(last, first + offset + size))
    return _json({"changes": changes, "currentRevision": current})


@router.get("/attendance-records")
async def list_records(request: Request, school: SchoolDep) -> Response:
    """List attendance records by register and student, filtered on ``startDatetime`` and id."""
    params = request.query_params
    start = _moment(params.get("filters.startDatetime.from"), "filters.startDatetime.from")
    end = _moment(params.get("filters.startDatetime.to"), "filters.startDatetime.to", upper=True)
    offset, size = _paging(request)
    window = school.slot_window(start, end)
    ids = _ids(request)
    if ids is None:
        return _json({"attendanceRecords": school.records(window, offset, size)})
    found = school.records_by_id(ids, window)
    return _json({"attendanceRecords": found[offset : offset + size]})


@router.get("/attendance-records/{object_id}")
async def get_record(school: SchoolDep, object_id: str) -> Response:
    """Return one attendance record."""
    found = school.record(_object_id(object_id))
    if found is None:
        raise ArborError(404, "Not Found", "No attendance record with this id.")
    return _json({"attendanceRecord": found})


@router.get("/{resource}")
async def list_objects(request: Request, school: SchoolDep, resource: str) -> Response:
    """List one of the small resources, ordered by id, optionally filtered on ids."""
    plural, _ = _listing(resource)
    offset, size = _paging(request)
    rows = school.lists[resource]
    ids = _ids(request)
    if ids is not None:
        wanted = set(ids)
        rows = [row for row in rows if row["id"] in wanted]
    return _json({plural: rows[offset : offset + size]})


@router.get("/{resource}/{object_id}")
async def get_object(school: SchoolDep, resource: str, object_id: str) -> Response:
    """Return one object of a small resource, wrapped by its type."""
    _, singular = _listing(resource)
    found = school.by_id[resource].get(_object_id(object_id))
    if found is None:
        raise ArborError(404, "Not Found", "No object with this id.")
    return _json({singular: found})


def _listing(resource: str) -> tuple[str, str]:
    listing = LISTINGS.get(resource)
    if listing is None:
        raise ArborError(404, "Not Found", "Unknown resource.")
    return listing


def _object_id(text: str) -> int:
    if not text.isdigit():
        raise ArborError(404, "Not Found", "No object with this id.")
    return int(text)


def _paging(request: Request) -> tuple[int, int]:
    """Return (offset, size) from ``page-number`` (from 1) and ``page-size`` (at most 1,000)."""
    params = request.query_params
    number = _int(params.get("page-number"), "page-number", 1, minimum=1)
    size = min(
        _int(params.get("page-size"), "page-size", DEFAULT_PAGE_SIZE, minimum=1), MAX_PAGE_SIZE
    )
    return (number - 1) * size, size


def _ids(request: Request) -> list[int] | None:
    """The ids of ``filters.id.in`` (comma-separated, at most ``MAX_FILTER_IDS``), or None."""
    text = request.query_params.get(_ID_FILTER)
    if text is None:
        return None
    parts = text.split(",")
    if not all(part.strip().isdigit() for part in parts):
        raise ArborError(400, "Bad Request", f"{_ID_FILTER} must be ids separated by commas")
    if len(parts) > MAX_FILTER_IDS:
        raise ArborError(400, "Bad Request", f"{_ID_FILTER} takes at most {MAX_FILTER_IDS} ids")
    return [int(part) for part in parts]


def _int(text: str | None, name: str, default: int, *, minimum: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ArborError(400, "Bad Request", f"{name} must be a whole number of {minimum} or more")
    return int(text)


def _moment(text: str | None, name: str, *, upper: bool = False) -> datetime | None:
    """Parse an ISO date or datetime; a date as an upper bound covers that whole day."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ArborError(
            400, "Bad Request", f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"
        ) from None
    if moment.tzinfo is not None:  # the sandbox's times are UTC without an offset
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if upper and len(text) == 10:
        return moment + timedelta(days=1)
    # The upper bound is inclusive; slot_window takes an exclusive end.
    return moment + timedelta(microseconds=1) if upper else moment


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = json.dumps(body, separators=(",", ":"))
    return Response(content, status_code=status, media_type="application/json", headers=headers)


async def _arbor_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ArborError)
    headers = {"WWW-Authenticate": 'Basic realm="Arbor sandbox"'} if error.status == 401 else None
    return _json(wire.error(error.status, error.reason, error.message), error.status, headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    reason = "Not Found" if error.status_code == 404 else "Error"
    return _json(wire.error(error.status_code, reason, str(error.detail)), error.status_code)


async def _validation_error(request: Request, error: Exception) -> Response:
    return _json(wire.error(400, "Bad Request", str(error)), 400)
