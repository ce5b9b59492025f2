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
from trustdata.config.trust import ConfigError, load_trust_config
from trustdata.orchestration.outbox import sign, sign_body
from trustdata.warehouse.tables import mis_events

SECRET = "test-webhook-secret"
WONDE_SECRET = "test-aggregator-secret"


def events_config(folder: Path, *, wonde: dict[str, str] | None = None) -> Path:
    """A trust of two Wonde academies: ``rowan`` (school A1) takes signed events, ``birch``
    (school A2) does not; with ``wonde``, the trust takes the aggregator's events too."""
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
    birch_adapter = {
        **rowan["adapter"],
        "options": {**rowan["adapter"]["options"], "school_id": "A2"},
    }
    config["academies"].append(
        {**rowan, "id": "birch", "urn": "990972", "name": "Birch", "adapter": birch_adapter}
    )
    del config["academies"][1]["webhook_secret_env"]
    if wonde is not None:
        config["wonde_events"] = wonde
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


# The Wonde-style form: one URL for the trust, the school named in the body.


@pytest.fixture
def aggregator(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    monkeypatch.setenv("TD_WONDE_EVENTS_SECRET", WONDE_SECRET)
    from ingest_api.main import create_app

    config = events_config(tmp_path, wonde={"secret_env": "TD_WONDE_EVENTS_SECRET"})
    with (
        running_app(create_app(config, relay=False)) as root,
        httpx.Client(base_url=f"{root}/api/v1") as client,
    ):
        yield client


def post_wonde(
    client: httpx.Client,
    event: dict[str, Any] | bytes,
    *,
    secret: str = WONDE_SECRET,
    signature: str | None = None,
) -> httpx.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = signature if signature is not None else sign_body(secret, body)
    return client.post(
        "/events/wonde",
        content=body,
        headers={"Content-Type": "application/json", "X-Signature": header},
    )


def test_an_aggregator_event_reaches_the_academy_reading_its_school(
    aggregator: httpx.Client, engine: Engine
) -> None:
    event = {
        "id": "wnd-0001",
        "payload_type": "attendanceUpdated",
        "school_id": "A1",
        # A pupil in the payload is neither kept nor echoed.
        "data": {"upn": "A123456789012", "forename": "Made", "surname": "Up"},
    }
    accepted = post_wonde(aggregator, event)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "queued"
    assert accepted.json()["academy_id"] == "rowan"
    assert "upn" not in accepted.text

    # The school as an object, the event id under event_id, the signature without its prefix:
    # birch takes events from the aggregator though it has no per-academy secret.
    other = {"event_id": "wnd-0002", "type": "students.updated", "school": {"id": "A2"}}
    body = json.dumps(other).encode()
    second = post_wonde(aggregator, body, signature=sign_body(WONDE_SECRET, body)[7:])
    assert second.status_code == 202, second.text
    assert second.json()["academy_id"] == "birch"

    assert [(r["academy_id"], r["event_id"], r["event_type"]) for r in stored(engine)] == [
        ("rowan", "wnd-0001", "attendanceUpdated"),
        ("birch", "wnd-0002", "students.updated"),
    ]

    replay = post_wonde(aggregator, event)
    assert replay.status_code == 409
    assert "wnd-0001" in replay.json()["detail"] and "A1" in replay.json()["detail"]
    assert len(stored(engine)) == 2


def test_an_event_for_a_school_no_academy_reads_is_ignored_not_stored(
    aggregator: httpx.Client, engine: Engine
) -> None:
    response = post_wonde(aggregator, {"id": "wnd-9", "type": "schoolApproved", "school_id": "A7"})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "ignored"
    assert "A7" in response.json()["detail"] and "trust config" in response.json()["detail"]
    assert stored(engine) == []


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"secret": "not-the-secret"}, "does not match"),
        ({"signature": ""}, "X-Signature"),
        ({"signature": "t=1,v1=abc"}, "malformed"),
    ],
)
def test_forged_aggregator_events_are_refused(
    aggregator: httpx.Client, engine: Engine, kwargs: dict[str, Any], says: str
) -> None:
    event = {"id": "wnd-x", "type": "attendanceUpdated", "school_id": "A1"}
    response = post_wonde(aggregator, event, **kwargs)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert stored(engine) == []


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"[1, 2]", "JSON object"),
        (json.dumps({"type": "attendanceUpdated", "school_id": "A1"}).encode(), "event_id"),
        (json.dumps({"id": "w1", "type": "bad type!", "school": {}}).encode(), "type"),
        (json.dumps({"id": "w1", "type": "ok"}).encode(), "school_id (from school_id or school)"),
    ],
)
def test_a_malformed_aggregator_event_names_the_fields(
    aggregator: httpx.Client, engine: Engine, body: bytes, names: str
) -> None:
    response = post_wonde(aggregator, body)
    assert response.status_code == 422, response.text
    assert names in response.json()["detail"]
    assert stored(engine) == []


def test_aggregator_events_need_the_trust_config_and_the_secret(
    api: httpx.Client, aggregator: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {"id": "wnd-3", "type": "attendanceUpdated", "school_id": "A1"}
    refused = post_wonde(api, event)
    assert refused.status_code == 403
    assert "wonde_events.secret_env" in refused.json()["detail"]

    monkeypatch.delenv("TD_WONDE_EVENTS_SECRET")
    unavailable = post_wonde(aggregator, event)
    assert unavailable.status_code == 503
    assert "TD_WONDE_EVENTS_SECRET" in unavailable.json()["detail"]


def test_two_academies_cannot_read_the_same_aggregator_school(tmp_path: Path) -> None:
    path = events_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["academies"][1]["adapter"]["options"]["school_id"] = "A1"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"school A1 is also read by academy 'rowan'"):
        load_trust_config(path)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # A numeric event id and school id are read as their digits.
        (
            {"id": 123456, "type": "attendance.updated", "school": 42},
            ("123456", "attendance.updated", "42"),
        ),
        # The school as an included object, the type under another of its keys.
        (
            {"uuid": "ev-1", "event": "student.updated", "school": {"id": "A1930499544"}},
            ("ev-1", "student.updated", "A1930499544"),
        ),
    ],
)
def test_an_aggregator_event_is_read_whatever_its_ids_types(
    payload: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    from ingest_api.api.routes.events import parse_aggregator_event

    assert parse_aggregator_event(json.dumps(payload).encode()) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {"id": True, "type": "attendance.updated", "school": "A1"},  # a flag is not an id
        {"id": "ev 1", "type": "attendance.updated", "school": "A1"},  # spaces: not an id
        {"id": 7, "type": "attendance.updated"},  # no school
    ],
)
def test_an_aggregator_event_with_a_wrong_field_names_it(payload: dict[str, Any]) -> None:
    from ingest_api.api.routes.events import parse_aggregator_event
    from ingest_api.problems import Problem

    with pytest.raises(Problem) as caught:
        parse_aggregator_event(json.dumps(payload).encode())
    assert caught.value.status == 422
    assert "wrong or missing" in caught.value.detail
