"""The MIS event intake over real HTTP and a real warehouse: signed, de-duplicated, stored.

Each refusal is checked for its status and for a message that says what to fix; a refused
event leaves nothing in the outbox, and an accepted one keeps ids only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select

from sandbox_mis.testing import running_app
from tests.helpers import one_academy_config
from trustdata.orchestration.outbox import sign
from trustdata.warehouse.tables import mis_events

SECRET = "test-webhook-secret"


def events_config(folder: Path) -> Path:
    """A trust of two academies: ``rowan`` takes signed events, ``birch`` does not."""
    path = one_academy_config(
        folder,
        academy_id="rowan",
        urn="990971",
        kind="wonde",
        options={"base_url": "http://127.0.0.1:9/v1.0", "school_id": "A1"},
        credential_env="TD_NO_TOKEN",
    )
    config = yaml.safe_load(path.read_text())
    rowan = config["academies"][0]
    rowan["webhook_secret_env"] = "TD_ROWAN_EVENTS_SECRET"
    config["academies"].append({**rowan, "id": "birch", "urn": "990972", "name": "Birch"})
    del config["academies"][1]["webhook_secret_env"]
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def api(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("TD_ROWAN_EVENTS_SECRET", SECRET)
    from ingest_api.main import create_app

    with (
        running_app(create_app(events_config(tmp_path), relay=False)) as root,
        httpx.Client(base_url=f"{root}/api/v1") as client,
    ):
        yield client


def post(
    client: httpx.Client,
    event: dict[str, Any] | bytes,
    *,
    academy: str = "rowan",
    secret: str = SECRET,
    at: float | None = None,
    signature: str | None = None,
) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = signature if signature is not None else sign(secret, body, int(at or time.time()))
    return client.post(
        f"/academies/{academy}/events",
        content=body,
        headers={"Content-Type": "application/json", "X-Trustdata-Signature": header},
    )


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(mis_events)).all()]


def test_a_signed_event_is_stored_once_with_ids_only(api: httpx.Client, engine: Engine) -> None:
    event = {
        "event_id": "evt-0001",
        "type": "attendance.updated",
        # Whatever else the MIS sends (here a made-up pupil) is neither kept nor echoed.
        "data": {"upn": "A123456789012", "forename": "Made", "surname": "Up"},
    }
    accepted = post(api, event)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "queued"
    assert "upn" not in accepted.text

    rows = stored(engine)
    assert [(r["academy_id"], r["event_id"], r["event_type"]) for r in rows] == [
        ("rowan", "evt-0001", "attendance.updated")
    ]
    assert rows[0]["delivered_at"] is None and rows[0]["attempts"] == 0

    replay = post(api, event)
    assert replay.status_code == 409
    assert replay.headers["content-type"] == "application/problem+json"
    assert "evt-0001" in replay.json()["detail"] and "received at" in replay.json()["detail"]
    assert len(stored(engine)) == 1

    assert post(api, {**event, "event_id": "evt-0002"}).status_code == 202
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(
    ("kwargs", "status", "says"),
    [
        ({"secret": "not-the-secret"}, 401, "does not match"),
        ({"signature": ""}, 401, "X-Trustdata-Signature"),
        ({"signature": "sha256=abc"}, 401, "malformed"),
        ({"at": time.time() - 3600}, 401, "tolerance"),
        ({"academy": "birch"}, 403, "webhook_secret_env"),
        ({"academy": "nowhere"}, 404, "no academy"),
    ],
)
def test_refused_events_say_why_and_store_nothing(
    api: httpx.Client, engine: Engine, kwargs: dict[str, Any], status: int, says: str
) -> None:
    response = post(api, {"event_id": "evt-x", "type": "students.updated"}, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert stored(engine) == []


def test_a_replay_with_a_fresh_signature_of_a_changed_body_is_still_one_event(
    api: httpx.Client, engine: Engine
) -> None:
    assert post(api, {"event_id": "evt-7", "type": "students.updated"}).status_code == 202
    again = post(api, {"event_id": "evt-7", "type": "attendance.updated"}, at=time.time() + 1)
    assert again.status_code == 409
    assert [r["event_type"] for r in stored(engine)] == ["students.updated"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"not json", "body"),
        (json.dumps({"type": "attendance.updated"}).encode(), "event_id"),
        (json.dumps({"event_id": "e 1", "type": "Bad Type"}).encode(), "event_id, type"),
    ],
)
def test_a_malformed_event_names_the_fields(
    api: httpx.Client, engine: Engine, body: bytes, names: str
) -> None:
    response = post(api, body)
    assert response.status_code == 422, response.text
    assert names in response.json()["detail"]
    assert stored(engine) == []


def test_a_missing_secret_on_the_api_is_a_retryable_503(
    api: httpx.Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TD_ROWAN_EVENTS_SECRET")
    response = post(api, {"event_id": "evt-9", "type": "students.updated"})
    assert response.status_code == 503
    assert "TD_ROWAN_EVENTS_SECRET" in response.json()["detail"]
    assert stored(engine) == []
