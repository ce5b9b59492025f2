"""MIS events: checked and stored by the API, then relayed to Airflow as asset events.

Receiving and relaying are separate on purpose. The API verifies an event's signature and
commits it to the outbox (``meta.mis_events``) before it answers, so an accepted event is never
lost. The relay posts due events to Airflow's REST API as an event on the academy's event asset
(``trustdata://events/<academy>``, part of the academy DAG's schedule). When Airflow is down or
refuses, the events stay in the outbox with the error and a next attempt time that backs off up
to ``MAX_BACKOFF``; they are delivered once Airflow is back. Delivery is at least once: a
sync is idempotent, so a repeated asset event costs a run, never data. Events for one academy
that are due together become one asset event (one run), with their count.

An event is stored as ids only (academy, the MIS's event id, its type): whatever else the MIS
sent is not kept, as it may hold pupil data.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from trustdata.config.settings import Settings
from trustdata.orchestration.assets import event_asset_uri
from trustdata.warehouse.tables import mis_events

log = logging.getLogger(__name__)

#: How old a signed event's timestamp may be before it is refused as a replay.
SIGNATURE_TOLERANCE = timedelta(minutes=5)
#: The first retry waits this long; each failure doubles it, up to ``MAX_BACKOFF``.
FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=15)
ERROR_LIMIT = 500


class SignatureError(Exception):
    """An event's signature is missing, malformed, stale or wrong; the message says which."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header a sender puts on ``body``: ``t=<unix time>,v1=<hex HMAC-SHA256>``.

    The HMAC (SHA-256, keyed with the academy's shared secret) covers ``<t>.<body>``, so a
    captured event cannot be replayed later with a fresh timestamp.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(header: str | None, body: bytes, secret: str, *, now: float) -> None:
    """Raise SignatureError unless ``header`` signs ``body`` with ``secret`` within the tolerance."""
    if not header:
        raise SignatureError("no signature: send the X-Trustdata-Signature header")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        raise SignatureError("malformed signature: expected 't=<unix time>,v1=<hex HMAC-SHA256>'")
    age = now - int(stamp)
    if abs(age) > SIGNATURE_TOLERANCE.total_seconds():
        raise SignatureError(
            f"signature timestamp is {int(age)} s from now, outside the "
            f"{int(SIGNATURE_TOLERANCE.total_seconds())} s tolerance: a replay, or the "
            "sender's clock is wrong"
        )
    expected = sign(secret, body, int(stamp)).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature does not match: check the academy's webhook secret")


def sign_body(secret: str, body: bytes) -> str:
    """An aggregator-style signature of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_body_signature(header: str | None, body: bytes, secret: str, *, name: str) -> None:
    """Raise SignatureError unless ``header`` is the HMAC-SHA256 of ``body`` under ``secret``.

    The aggregator-style signature covers the body only (hex, with or without ``sha256=``), so
    it carries no time: a replayed event is caught by its event id instead.
    """
    if not header:
        raise SignatureError(f"no signature: send the {name} header")
    given = header.strip().removeprefix("sha256=")
    if len(given) != 64 or any(c not in "0123456789abcdefABCDEF" for c in given):
        raise SignatureError(
            f"malformed signature: expected {name}: sha256=<64 hex digits of HMAC-SHA256>"
        )
    expected = sign_body(secret, body).removeprefix("sha256=")
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureError("signature does not match: check the aggregator's webhook secret")


@dataclass(frozen=True)
class Stored:
    """The outcome of storing an event: new, or a repeat of one received before."""

    outbox_id: int
    received_at: datetime
    duplicate: bool


def store_event(engine: Engine, *, academy_id: str, event_id: str, event_type: str) -> Stored:
    """Commit an event to the outbox, once per (academy, event id)."""
    with engine.begin() as conn:
        new = conn.execute(
            insert(mis_events)
            .values(academy_id=academy_id, event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing(index_elements=["academy_id", "event_id"])
            .returning(mis_events.c.outbox_id, mis_events.c.received_at)
        ).first()
        if new is not None:
            return Stored(new.outbox_id, new.received_at, duplicate=False)
        old = conn.execute(
            select(mis_events.c.outbox_id, mis_events.c.received_at).where(
                mis_events.c.academy_id == academy_id, mis_events.c.event_id == event_id
            )
        ).one()
        return Stored(old.outbox_id, old.received_at, duplicate=True)


class RelayError(Exception):
    """Airflow did not take an event; the message says why (it is stored on the event)."""


class AirflowApi:
    """The part of Airflow's REST API (v2) the relay uses: a token, asset ids, asset events.

    ``username``/``password`` go to ``POST /auth/token``; without them the token comes from
    ``GET /auth/token``, which only an Airflow with ``simple_auth_manager_all_admins`` grants.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )
        self._credentials = (username, password) if username else None
        self._token: str | None = None
        self._asset_ids: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AirflowApi | None:
        """The API the settings name (``TRUSTDATA_AIRFLOW_*``), or None when unset."""
        if settings.airflow_api_url is None:
            return None
        password = settings.airflow_password
        return cls(
            settings.airflow_api_url,
            username=settings.airflow_username,
            password=password.get_secret_value() if password else None,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _authenticate(self) -> str:
        if self._credentials is None:
            response = self._client.get("/auth/token")
        else:
            username, password = self._credentials
            response = self._client.post(
                "/auth/token", json={"username": username, "password": password}
            )
        if response.status_code in (401, 403):
            raise RelayError(
                f"Airflow refused the relay's login (HTTP {response.status_code}): check "
                "TRUSTDATA_AIRFLOW_USERNAME and TRUSTDATA_AIRFLOW_PASSWORD"
            )
        _raise_for(response, "login")
        return str(response.json()["access_token"])

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(2):
            if self._token is None:
                self._token = self._authenticate()
            response = self._client.request(
                method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs
            )
            if response.status_code != 401 or attempt:
                return response
            self._token = None  # expired: log in again once
        raise AssertionError("unreachable")

    def asset_id(self, uri: str) -> int:
        """The id Airflow gave the asset ``uri`` (known once a DAG using it is parsed)."""
        if uri not in self._asset_ids:
            response = self._request("GET", "/api/v2/assets", params={"uri_pattern": uri})
            _raise_for(response, "asset lookup")
            found = [a["id"] for a in response.json().get("assets", []) if a.get("uri") == uri]
            if not found:
                raise RelayError(
                    f"Airflow knows no asset {uri}: is the academy's DAG deployed and parsed?"
                )
            self._asset_ids[uri] = int(found[0])
        return self._asset_ids[uri]

    def post_event(self, uri: str, extra: dict[str, Any]) -> int:
        """Record an event on the asset ``uri``; return Airflow's asset event id."""
        body = {"asset_id": self.asset_id(uri), "extra": extra}
        response = self._request("POST", "/api/v2/assets/events", json=body)
        if response.status_code == 404:
            self._asset_ids.pop(uri, None)  # the asset went away: look it up again next time
        _raise_for(response, "asset event")
        return int(response.json()["id"])


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    raise RelayError(f"Airflow answered the {what} with HTTP {response.status_code}")


@dataclass(frozen=True)
class RelayReport:
    """What one relay pass did: events delivered (as asset events) and events left to retry."""

    delivered: int
    asset_events: int
    failed: int


def relay_due(
    engine: Engine, api: AirflowApi, *, limit: int = 500, max_backoff: timedelta = MAX_BACKOFF
) -> RelayReport:
    """Deliver the outbox's due events to Airflow, one asset event per academy.

    Rows are locked (``FOR UPDATE SKIP LOCKED``) for the pass, so relays running side by side
    never send an event twice. A failure leaves the academy's events undelivered, with the
    error and a backed-off next attempt.
    """
    delivered = asset_events = failed = 0
    with engine.begin() as conn:
        due = conn.execute(
            select(mis_events.c.outbox_id, mis_events.c.academy_id)
            .where(mis_events.c.delivered_at.is_(None), mis_events.c.next_attempt_at <= func.now())
            .order_by(mis_events.c.outbox_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        by_academy: dict[str, list[int]] = {}
        for row in due:
            by_academy.setdefault(row.academy_id, []).append(row.outbox_id)
        for academy_id, ids in by_academy.items():
            rows = mis_events.c.outbox_id.in_(ids)
            try:
                api.post_event(event_asset_uri(academy_id), {"mis_events": len(ids)})
            except (RelayError, httpx.HTTPError) as exc:
                message = _describe(exc)
                conn.execute(
                    update(mis_events)
                    .where(rows)
                    .values(
                        attempts=mis_events.c.attempts + 1,
                        last_error=message[:ERROR_LIMIT],
                        next_attempt_at=func.now() + _backoff(max_backoff),
                    )
                )
                failed += len(ids)
                log.warning(
                    "%d MIS event(s) for %s not delivered to Airflow: %s",
                    len(ids),
                    academy_id,
                    message,
                )
                continue
            conn.execute(
                update(mis_events)
                .where(rows)
                .values(
                    attempts=mis_events.c.attempts + 1, delivered_at=func.now(), last_error=None
                )
            )
            delivered += len(ids)
            asset_events += 1
    if delivered:
        log.info("relayed %d MIS event(s) as %d asset event(s)", delivered, asset_events)
    return RelayReport(delivered=delivered, asset_events=asset_events, failed=failed)


def _backoff(max_backoff: timedelta) -> Any:
    """The wait before the next attempt: doubling per attempt made, capped at ``max_backoff``."""
    cap = max_backoff.total_seconds()
    first = min(FIRST_BACKOFF.total_seconds(), cap)
    doubled = "power(2, least(meta.mis_events.attempts, 16))"
    return text(f"make_interval(secs => least(:cap, :first * {doubled}))").bindparams(
        cap=cap, first=first
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, RelayError):
        return str(exc)
    if isinstance(exc, httpx.TransportError):
        return f"Airflow's API did not answer ({type(exc).__name__}): is the api-server up?"
    return type(exc).__name__


def pending(engine: Engine) -> list[dict[str, Any]]:
    """Undelivered events per academy: how many, since when, and the last error."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                mis_events.c.academy_id,
                func.count().label("events"),
                func.min(mis_events.c.received_at).label("oldest"),
                func.max(mis_events.c.attempts).label("attempts"),
                func.max(mis_events.c.last_error).label("last_error"),
            )
            .where(mis_events.c.delivered_at.is_(None))
            .group_by(mis_events.c.academy_id)
            .order_by(mis_events.c.academy_id)
        ).all()
    return [dict(row._mapping) for row in rows]


def run_relay(
    engine: Engine,
    api: AirflowApi,
    *,
    interval: float,
    max_backoff: timedelta = MAX_BACKOFF,
    stop: threading.Event | None = None,
) -> None:
    """Relay due events every ``interval`` seconds until ``stop`` is set."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            relay_due(engine, api, max_backoff=max_backoff)
        except Exception:
            log.exception("relay pass failed; retrying in %.0f s", interval)
        stop.wait(interval)
