"""Access to the read API over real HTTP: keys, tokens, scopes, revocation, and the CLI.

The demo trust's structure (hubs north = oakfield + ashbrook, south = elmstead + yewtree) with
no marts built: every scope check runs before the data is read, so a refused request is a 403
and an allowed one reaches the data (freshness and quality answer from meta tables).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, update

from sandbox_mis.testing import running_app
from tests.conftest import write_trust_config
from tests.helpers import api_key, bearer
from trustdata import orchestration
from trustdata.access.clients import revoke_client, rotate_key
from trustdata.cli import main
from trustdata.warehouse.tables import api_clients, api_tokens

ACADEMIES = {"oakfield", "ashbrook", "elmstead", "yewtree"}


@pytest.fixture
def trust(tmp_path: Path, engine: Engine) -> Path:
    path = write_trust_config(tmp_path, "http://127.0.0.1:9/v1.0")
    orchestration.prepare_warehouse(config_path=str(path))
    return path


@pytest.fixture
def app(trust: Path) -> FastAPI:
    from ingest_api.main import create_app

    return create_app(trust, relay=False)


@pytest.fixture
def api(app: FastAPI) -> Iterator[httpx.Client]:
    """The API with its lifespan, so that the credential cache's listener runs."""
    with (
        running_app(app, lifespan=True) as root,
        httpx.Client(base_url=f"{root}/api/v1") as client,
    ):
        _until(lambda: app.state.auth_cache.listening, "the credential listener to start")
        yield client


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, f"waited 10 s for {what}"
        time.sleep(0.01)


@contextmanager
def _notified(app: FastAPI) -> Iterator[None]:
    """Wait, after the block, for the API's credential cache to hear of the change made in it."""
    cache = app.state.auth_cache
    before = cache.generation()
    yield
    _until(lambda: cache.generation() != before, "the change to be notified")


def _problem(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert needle in response.json()["detail"]


def test_every_data_route_needs_a_live_credential(api: httpx.Client, engine: Engine) -> None:
    paths = ["/academies", "/freshness", "/quality", "/trust/attendance-gap"]
    paths += ["/hubs/north/attendance-gap", "/academies/oakfield/freshness"]
    for path in paths:
        response = api.get(path)
        _problem(response, 401, "Authorization: Bearer")
        assert response.headers["www-authenticate"].startswith("Bearer")
    for credential in ("nonsense", "td_0123456789abcdef_" + "x" * 43, api_key(engine) + "x"):
        _problem(api.get("/academies", headers=bearer(credential)), 401, "unknown, revoked")
    # Health and readiness stay open, for load balancers.
    assert api.get(str(api.base_url.copy_with(path="/health"))).status_code == 200


def test_an_academy_scoped_client_sees_only_its_academy(api: httpx.Client, engine: Engine) -> None:
    headers = bearer(api_key(engine, "academy:oakfield"))
    listed = api.get("/academies", headers=headers).json()
    assert [a["id"] for a in listed["data"]] == ["oakfield"]
    assert api.get("/academies/oakfield/freshness", headers=headers).status_code == 200
    assert api.get("/academies/oakfield/quality", headers=headers).status_code == 200
    for path in ("/academies/ashbrook/freshness", "/academies/yewtree/quality"):
        _problem(api.get(path, headers=headers), 403, "may not read academy")
    _problem(
        api.get("/academies/ashbrook/attendance-gap", headers=headers), 403, "academy:oakfield"
    )
    _problem(api.get("/hubs/north/attendance-gap", headers=headers), 403, "may not read hub")
    _problem(api.get("/trust/attendance-gap", headers=headers), 403, "may not read trust")
    # An academy the trust does not have is a 404 whatever the scopes.
    _problem(api.get("/academies/nowhere/freshness", headers=headers), 404, "no academy")


def test_a_hub_scoped_client_sees_the_hub_and_its_academies(
    api: httpx.Client, engine: Engine
) -> None:
    headers = bearer(api_key(engine, "hub:south"))
    listed = api.get("/academies", headers=headers).json()
    assert {a["id"] for a in listed["data"]} == {"elmstead", "yewtree"}
    assert api.get("/academies/yewtree/freshness", headers=headers).status_code == 200
    _problem(api.get("/academies/oakfield/freshness", headers=headers), 403, "hub:south")
    _problem(api.get("/hubs/north/attendance-gap", headers=headers), 403, "may not read hub")
    _problem(api.get("/trust/attendance-gap", headers=headers), 403, "may not read trust")


def test_a_trust_client_sees_everything(api: httpx.Client, engine: Engine) -> None:
    headers = bearer(api_key(engine, "trust"))
    listed = api.get("/academies", headers=headers).json()
    assert {a["id"] for a in listed["data"]} == ACADEMIES


def test_revoking_or_rotating_a_key_stops_it_at_once(
    api: httpx.Client, app: FastAPI, engine: Engine
) -> None:
    key = api_key(engine, "trust")
    client_id = engine.connect().execute(select(api_clients.c.client_id)).scalar_one()
    assert api.get("/academies", headers=bearer(key)).status_code == 200
    assert len(app.state.auth_cache) == 1  # answered from the cache from now on
    with _notified(app):
        new_key = rotate_key(engine, client_id=client_id)
    _problem(api.get("/academies", headers=bearer(key)), 401, "revoked")
    assert api.get("/academies", headers=bearer(new_key)).status_code == 200
    with _notified(app):
        revoke_client(engine, client_id=client_id)
    _problem(api.get("/academies", headers=bearer(new_key)), 401, "revoked")


def test_a_change_made_by_hand_also_empties_the_credential_cache(
    api: httpx.Client, app: FastAPI, engine: Engine
) -> None:
    key = api_key(engine, "trust")
    client_id = engine.connect().execute(select(api_clients.c.client_id)).scalar_one()
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": key}
    token = api.post("/token", data=form).json()["access_token"]
    for credential in (key, token):
        assert api.get("/academies", headers=bearer(credential)).status_code == 200
    assert len(app.state.auth_cache) == 2
    # A token expired by hand (an UPDATE in psql) stops at once; the key goes on.
    with _notified(app), engine.begin() as conn:
        conn.execute(update(api_tokens).values(expires_at=func.now() - timedelta(seconds=1)))
    _problem(api.get("/academies", headers=bearer(token)), 401, "expired")
    assert api.get("/academies", headers=bearer(key)).status_code == 200
    with _notified(app), engine.begin() as conn:
        conn.execute(update(api_clients).values(revoked_at=func.now()))
    _problem(api.get("/academies", headers=bearer(key)), 401, "revoked")


def test_without_its_listener_the_api_caches_no_credential(
    api: httpx.Client, app: FastAPI, engine: Engine
) -> None:
    key = api_key(engine, "trust")
    app.state.auth_cache.set_listening(False)  # as when its connection is lost
    assert api.get("/academies", headers=bearer(key)).status_code == 200
    assert len(app.state.auth_cache) == 0


def test_client_credentials_give_a_token_that_ends_with_its_client(
    api: httpx.Client, app: FastAPI, engine: Engine
) -> None:
    key = api_key(engine, "academy:elmstead")
    client_id = engine.connect().execute(select(api_clients.c.client_id)).scalar_one()
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": key}
    response = api.post("/token", data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    token = body["access_token"]
    assert token.startswith("tdt_") and token != key
    listed = api.get("/academies", headers=bearer(token)).json()
    assert [a["id"] for a in listed["data"]] == ["elmstead"]
    # A token cannot be exchanged for another, and a wrong secret says nothing of which part.
    _problem(api.post("/token", data=form | {"client_secret": token}), 401, "do not match")
    _problem(api.post("/token", data=form | {"client_id": "someone"}), 401, "do not match")
    _problem(api.post("/token", data=form | {"grant_type": "password"}), 422, "grant_type")
    with _notified(app):
        revoke_client(engine, client_id=client_id)
    _problem(api.get("/academies", headers=bearer(token)), 401, "revoked")
    with engine.connect() as conn:
        assert conn.execute(select(api_tokens)).all() == []


def test_keys_are_stored_hashed(engine: Engine) -> None:
    key = api_key(engine, "trust")
    secret = key[len("td_0123456789abcdef_") :]
    with engine.connect() as conn:
        stored = " ".join(str(value) for value in conn.execute(select(api_clients)).one())
    assert secret not in stored and key not in stored


def test_the_cli_creates_lists_and_revokes_clients(
    trust: Path, capsys: pytest.CaptureFixture[str], api: httpx.Client
) -> None:
    config = ["--config", str(trust), "api-client"]
    assert main([*config, "create", "powerbi-north", "--scope", "hub:north"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("td_")
    assert api.get("/academies/ashbrook/freshness", headers=bearer(key)).status_code == 200

    assert main([*config, "create", "powerbi-north", "--scope", "trust"]) == 2
    assert "exists; rotate its key" in capsys.readouterr().err
    assert main([*config, "create", "other", "--scope", "academy:nowhere"]) == 2
    err = capsys.readouterr().err
    assert "no academy 'nowhere'" in err and "oakfield" in err
    assert main([*config, "create", "other", "--scope", "everything"]) == 2
    assert "is not one of: trust, hub:<hub id>" in capsys.readouterr().err
    assert main([*config, "create", "other", "--scope", "pupils"]) == 2
    assert "add trust, hub:<hub id>" in capsys.readouterr().err
    assert main([*config, "create", "Bad Name", "--scope", "trust"]) == 2
    assert "lower-case letters" in capsys.readouterr().err

    assert main([*config, "list"]) == 0
    listing = capsys.readouterr().out
    assert "powerbi-north\tlive" in listing and key not in listing
    assert main([*config, "revoke", "powerbi-north"]) == 0
    assert main([*config, "revoke", "powerbi-north"]) == 2
    assert "was revoked" in capsys.readouterr().err
    assert api.get("/academies", headers=bearer(key)).status_code == 401


def test_csv_by_query_or_accept_header(api: httpx.Client, engine: Engine) -> None:
    headers = bearer(api_key(engine, "hub:north"))
    as_csv = api.get("/academies", params={"format": "csv"}, headers=headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "id,name,urn,phase,hub_id" and len(lines) == 3
    assert lines[1].startswith("ashbrook,Ashbrook Academy,990002,secondary,north")
    by_accept = api.get("/academies", headers=headers | {"Accept": "text/csv"})
    assert by_accept.text == as_csv.text
    prefers_json = {"Accept": "application/json, text/csv;q=0.5"}
    assert api.get("/academies", headers=headers | prefers_json).json()["count"] == 2
    bad = api.get("/academies", params={"format": "xml"}, headers=headers)
    _problem(bad, 422, "format")


def test_etags_answer_a_repeat_with_304(api: httpx.Client, engine: Engine) -> None:
    headers = bearer(api_key(engine, "trust"))
    first = api.get("/academies", headers=headers)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    repeat = api.get("/academies", headers=headers | {"If-None-Match": etag})
    assert repeat.status_code == 304 and repeat.content == b"" and repeat.headers["etag"] == etag
    # Another representation, or other data, has another tag.
    csv = api.get("/academies", params={"format": "csv"}, headers=headers | {"If-None-Match": etag})
    assert csv.status_code == 200 and csv.headers["etag"] != etag
    narrower = bearer(api_key(engine, "academy:oakfield"))
    other = api.get("/academies", headers=narrower | {"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag


def test_each_client_has_a_request_budget(
    trust: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest_api.main import create_app
    from trustdata.config.settings import get_settings

    monkeypatch.setenv("TRUSTDATA_API_RATE_LIMIT_PER_MINUTE", "3")
    get_settings.cache_clear()
    try:
        app = create_app(trust, relay=False)
    finally:
        monkeypatch.delenv("TRUSTDATA_API_RATE_LIMIT_PER_MINUTE")
        get_settings.cache_clear()
    busy, quiet = bearer(api_key(engine, "trust")), bearer(api_key(engine, "trust"))
    with running_app(app) as root, httpx.Client(base_url=f"{root}/api/v1") as api:
        assert [api.get("/academies", headers=busy).status_code for _ in range(3)] == [200] * 3
        refused = api.get("/academies", headers=busy)
        _problem(refused, 429, "3 requests a minute")
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert api.get("/academies", headers=quiet).status_code == 200


def test_metrics_count_requests_by_route_template(api: httpx.Client, engine: Engine) -> None:
    headers = bearer(api_key(engine, "trust"))
    api.get("/academies/oakfield/freshness", headers=headers)
    api.get("/academies/oakfield/freshness")
    text = api.get(str(api.base_url.copy_with(path="/metrics"))).text
    route = "/api/v1/academies/{academy_id}/freshness"
    assert f'trustdata_api_requests_total{{method="GET",route="{route}",status="200"}}' in text
    assert f'route="{route}",status="401"' in text
    assert "oakfield" not in text


def test_the_trust_hubs_and_academies_within_scope(api: httpx.Client, engine: Engine) -> None:
    whole = bearer(api_key(engine, "trust"))
    trust_body = api.get("/trust", headers=whole).json()
    assert trust_body["id"] == "demo_trust"
    assert {h["id"]: h["academy_ids"] for h in trust_body["hubs"]} == {
        "north": ["ashbrook", "oakfield"],
        "south": ["elmstead", "yewtree"],
    }
    south = bearer(api_key(engine, "hub:south"))
    _problem(api.get("/trust", headers=south), 403, "may not read trust")
    assert [h["id"] for h in api.get("/hubs", headers=south).json()["data"]] == ["south"]
    assert api.get("/hubs/south", headers=south).json()["academy_ids"] == ["elmstead", "yewtree"]
    _problem(api.get("/hubs/north", headers=south), 403, "may not read hub")
    _problem(api.get("/hubs/west", headers=south), 404, "no hub")
    assert api.get("/academies/yewtree", headers=south).json()["urn"] == "990004"
    _problem(api.get("/academies/oakfield", headers=south), 403, "may not read academy")
