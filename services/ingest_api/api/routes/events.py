"""The intake for MIS events: signed, de-duplicated, stored in the outbox, relayed to Airflow.

Two forms. The generic one, per academy: the sender signs each event with its academy's
shared secret (``webhook_secret_env`` in the trust config), header ``X-Trustdata-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. The Wonde-style one, for the whole
trust: an aggregator posts every school's events to one URL, signed with the trust's secret
(``wonde_events`` in the trust config) as a hex HMAC-SHA256 of the body, and names the school
by its own id; the academy whose wonde adapter reads that school takes the event.

The event is committed to ``meta.mis_events`` before the answer, so a 202 means it will reach
Airflow, however long Airflow is away. Rejections are logged with the academy (or school), the
event id and the reason; nothing else the sender sent is logged or kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from ingest_api.api.deps import EngineDep, TrustDep
from ingest_api.api.routes.attendance import AcademyIdPath
from ingest_api.problems import Problem
from trustdata.orchestration.outbox import (
    SignatureError,
    Stored,
    store_event,
    verify_body_signature,
    verify_signature,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["events"])


class MisEvent(BaseModel):
    """What the platform reads from an MIS event; any other field is ignored and not kept."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="The sender's id of this event; a second event with the same id is refused.",
        examples=["evt_2025-10-06T08:15:00Z_0001"],
    )
    type: str = Field(
        pattern=r"^[a-z][a-z0-9_.-]{0,63}$",
        description="What changed, e.g. attendance.updated or students.updated.",
        examples=["attendance.updated"],
    )


class EventAccepted(BaseModel):
    """An event stored in the outbox, to be relayed to Airflow."""

    academy_id: str
    event_id: str
    status: str = Field(examples=["queued"])
    received_at: datetime


class AggregatorEventAnswer(BaseModel):
    """What became of an aggregator's event: queued for an academy, or ignored (and why)."""

    school_id: str
    event_id: str
    status: str = Field(examples=["queued", "ignored"])
    academy_id: str | None = None
    received_at: datetime | None = None
    detail: str | None = None


#: Where a Wonde-style event may carry each field; the first present wins. The vendor's
#: payload is not documented in the reference, so these are tolerant, like the adapter.
_EVENT_ID_KEYS = ("event_id", "id", "uuid")
_TYPE_KEYS = ("type", "event", "payload_type", "event_type")
_SCHOOL_KEYS = ("school_id", "school")
_ID = r"^[\x21-\x7e]{1,200}$"
_TYPE = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"


def _first(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def parse_aggregator_event(body: bytes) -> tuple[str, str, str]:
    """Read (event id, type, school id) from a Wonde-style event, or raise Problem 422."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise Problem(422, "Invalid event", "the event needs a JSON object as its body")
    found = {
        "event_id": (_first(payload, _EVENT_ID_KEYS), _ID, _EVENT_ID_KEYS),
        "type": (_first(payload, _TYPE_KEYS), _TYPE, _TYPE_KEYS),
        "school_id": (_first(payload, _SCHOOL_KEYS), _ID, _SCHOOL_KEYS),
    }
    wrong = [
        f"{name} (from {' or '.join(keys)})"
        for name, (value, pattern, keys) in found.items()
        if value is None or not re.match(pattern, value)
    ]
    if wrong:
        raise Problem(
            422, "Invalid event", f"the event's fields are wrong or missing: {', '.join(wrong)}"
        )
    event_id, event_type, school_id = (str(value) for value, _, _ in found.values())
    return event_id, event_type, school_id


def _secret(trust: TrustDep, academy_id: str) -> str:
    try:
        academy = trust.academy(academy_id)
    except KeyError:
        raise Problem(
            404, "Unknown academy", f"no academy with id {academy_id!r} in the trust"
        ) from None
    if academy.webhook_secret_env is None:
        raise Problem(
            403,
            "Events not enabled",
            f"academy {academy_id!r} takes no MIS events: set webhook_secret_env on it in the "
            "trust config to name the variable holding its shared secret",
        )
    secret = os.environ.get(academy.webhook_secret_env)
    if not secret:
        log.error("academy %s: %s is not set on the API", academy_id, academy.webhook_secret_env)
        raise Problem(
            503,
            "Events secret missing",
            f"the API has no secret for academy {academy_id!r}'s events "
            f"({academy.webhook_secret_env} is not set); the sender should retry later",
        )
    return secret


async def _queue(
    engine: Engine, academy_id: str, event_id: str, event_type: str, *, via: str = ""
) -> Stored:
    """Commit the event to the outbox; 409 when its id was received before (a replay)."""
    stored = await run_in_threadpool(
        store_event, engine, academy_id=academy_id, event_id=event_id, event_type=event_type
    )
    sender = f"{via} (academy {academy_id!r})" if via else f"academy {academy_id!r}"
    if stored.duplicate:
        log.warning("academy %s: event %s refused as a replay", academy_id, event_id)
        raise Problem(
            409,
            "Event already received",
            f"event {event_id!r} for {sender} was received at "
            f"{stored.received_at.isoformat()}; it is acted on once",
        )
    log.info("academy %s: event %s (%s) queued", academy_id, event_id, event_type)
    return stored


@router.post(
    "/academies/{academy_id}/events",
    status_code=202,
    response_model=EventAccepted,
    responses={
        401: {"description": "Missing, stale or wrong signature"},
        403: {"description": "The academy takes no events"},
        409: {"description": "An event with this id was received before (a replay)"},
    },
)
async def receive_event(
    request: Request,
    academy_id: AcademyIdPath,
    trust: TrustDep,
    engine: EngineDep,
    x_trustdata_signature: Annotated[str | None, Header()] = None,
) -> EventAccepted:
    """Take a signed MIS event for an academy; its DAG runs once the event reaches Airflow."""
    secret = _secret(trust, academy_id)
    body = await request.body()
    try:
        verify_signature(x_trustdata_signature, body, secret, now=time.time())
    except SignatureError as exc:
        log.warning("academy %s: event refused: %s", academy_id, exc)
        raise Problem(401, "Bad signature", str(exc)) from None
    try:
        event = MisEvent.model_validate_json(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        raise Problem(
            422,
            "Invalid event",
            f"the event needs a JSON body with event_id and type; wrong or missing: "
            f"{', '.join(fields)}",
        ) from None
    stored = await _queue(engine, academy_id, event.event_id, event.type)
    return EventAccepted(
        academy_id=academy_id,
        event_id=event.event_id,
        status="queued",
        received_at=stored.received_at,
    )


@router.post(
    "/events/wonde",
    status_code=202,
    response_model=AggregatorEventAnswer,
    responses={
        401: {"description": "Missing or wrong signature"},
        403: {"description": "The trust takes no aggregator events"},
        409: {"description": "An event with this id was received before (a replay)"},
    },
)
async def receive_wonde_event(
    request: Request, trust: TrustDep, engine: EngineDep
) -> AggregatorEventAnswer:
    """Take a signed event from the Wonde-style aggregator for any of its schools.

    The school is found by the aggregator's id (``school_id``, or ``school`` as an id or an
    object with ``id``); the event id by ``event_id``, ``id`` or ``uuid``; the type by ``type``,
    ``event``, ``payload_type`` or ``event_type``. An event for a school no academy reads is
    answered 202 ``ignored`` (the aggregator need not retry it) and logged.
    """
    settings = trust.wonde_events
    if settings is None:
        raise Problem(
            403,
            "Events not enabled",
            "the trust takes no aggregator events: set wonde_events.secret_env in the trust "
            "config to name the variable holding the shared secret",
        )
    secret = os.environ.get(settings.secret_env)
    if not secret:
        log.error("wonde events: %s is not set on the API", settings.secret_env)
        raise Problem(
            503,
            "Events secret missing",
            f"the API has no secret for the aggregator's events ({settings.secret_env} is not "
            "set); the sender should retry later",
        )
    body = await request.body()
    try:
        verify_body_signature(
            request.headers.get(settings.signature_header),
            body,
            secret,
            name=settings.signature_header,
        )
    except SignatureError as exc:
        log.warning("wonde events: event refused: %s", exc)
        raise Problem(401, "Bad signature", str(exc)) from None
    event_id, event_type, school_id = parse_aggregator_event(body)
    academy = trust.academy_for_school("wonde", school_id)
    if academy is None:
        log.warning("wonde events: event %s for school %s ignored: no academy", event_id, school_id)
        return AggregatorEventAnswer(
            school_id=school_id,
            event_id=event_id,
            status="ignored",
            detail=(
                f"no academy of the trust is read from school {school_id} by the wonde adapter; "
                "add it to the trust config to act on its events"
            ),
        )
    stored = await _queue(engine, academy.id, event_id, event_type, via=f"school {school_id}")
    return AggregatorEventAnswer(
        school_id=school_id,
        event_id=event_id,
        status="queued",
        academy_id=academy.id,
        received_at=stored.received_at,
    )
