"""The intake for MIS events: signed, de-duplicated, stored in the outbox, relayed to Airflow.

A sender signs each event with its academy's shared secret (``webhook_secret_env`` in the
trust config): header ``X-Trustdata-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>">``. The event is committed to ``meta.mis_events`` before the answer, so a 202 means
it will reach Airflow, however long Airflow is away. Rejections are logged with the academy,
the event id and the reason; nothing else the sender sent is logged or kept.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest_api.api.deps import EngineDep, TrustDep
from ingest_api.api.routes.attendance import AcademyIdPath
from ingest_api.problems import Problem
from trustdata.orchestration.outbox import SignatureError, store_event, verify_signature

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
    stored = await run_in_threadpool(
        store_event, engine, academy_id=academy_id, event_id=event.event_id, event_type=event.type
    )
    if stored.duplicate:
        log.warning("academy %s: event %s refused as a replay", academy_id, event.event_id)
        raise Problem(
            409,
            "Event already received",
            f"event {event.event_id!r} for academy {academy_id!r} was received at "
            f"{stored.received_at.isoformat()}; it is acted on once",
        )
    log.info("academy %s: event %s (%s) queued", academy_id, event.event_id, event.type)
    return EventAccepted(
        academy_id=academy_id,
        event_id=event.event_id,
        status="queued",
        received_at=stored.received_at,
    )
