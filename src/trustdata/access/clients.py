"""API clients: their keys (stored hashed), short-lived tokens, and the pupil-level read log.

A key is ``td_<key id>_<secret>``; the warehouse keeps the key id and the SHA-256 of the
secret, never the secret, which is shown once when the client is created or its key rotated.
The secret is 256 random bits, so a fast hash is enough: there is no dictionary to try, and a
slow password hash would cost every request. A token (OAuth2 client credentials, exchanged for
the key at ``/api/v1/token``) is ``tdt_<token id>_<secret>``, stored the same way, and expires.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, DateTime, Engine, delete, func, insert, null, select, update

from trustdata.warehouse.tables import api_access_log, api_clients, api_tokens

CLIENT_ID = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")
_CREDENTIAL = re.compile(r"^(td|tdt)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
TOKEN_LIFETIME = timedelta(hours=1)


class ClientError(ValueError):
    """A client that cannot be created, changed or found; the message says what to do."""


@dataclass(frozen=True)
class Client:
    """An API client as listed: never its key."""

    client_id: str
    description: str
    scopes: tuple[str, ...]
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Caller:
    """Who a request's credential belongs to."""

    client_id: str
    scopes: tuple[str, ...]
    via_token: bool
    #: When a token stops working (None for a key, which works until rotated or revoked).
    expires_at: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_credential(prefix: str) -> tuple[str, str, str]:
    """(credential, id, hash of its secret)."""
    credential_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return f"{prefix}_{credential_id}_{secret}", credential_id, _digest(secret)


def create_client(
    engine: Engine, *, client_id: str, scopes: tuple[str, ...], description: str = ""
) -> str:
    """Store a new client with these (already checked) scopes; return its key, shown once."""
    if not CLIENT_ID.match(client_id):
        raise ClientError(
            f"client id {client_id!r}: use 2-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter (e.g. powerbi-north)"
        )
    key, key_id, key_hash = _new_credential("td")
    with engine.begin() as conn:
        if conn.execute(
            select(api_clients.c.client_id).where(api_clients.c.client_id == client_id)
        ).first():
            raise ClientError(
                f"client {client_id!r} exists; rotate its key with "
                f"'trustdata api-client rotate {client_id}' or pick another id"
            )
        conn.execute(
            insert(api_clients).values(
                client_id=client_id,
                description=description,
                scopes=list(scopes),
                key_id=key_id,
                key_hash=key_hash,
            )
        )
    return key


def rotate_key(engine: Engine, *, client_id: str) -> str:
    """Give a client a new key (the old one stops working, as do its tokens); return it."""
    key, key_id, key_hash = _new_credential("td")
    with engine.begin() as conn:
        changed = conn.execute(
            update(api_clients)
            .where(api_clients.c.client_id == client_id, api_clients.c.revoked_at.is_(None))
            .values(key_id=key_id, key_hash=key_hash)
        ).rowcount
        if not changed:
            raise ClientError(_unknown(conn, client_id))
        conn.execute(delete(api_tokens).where(api_tokens.c.client_id == client_id))
    return key


def revoke_client(engine: Engine, *, client_id: str) -> None:
    """Stop a client's key and tokens at once; the client stays listed, as revoked."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(api_clients)
            .where(api_clients.c.client_id == client_id, api_clients.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
        ).rowcount
        if not changed:
            raise ClientError(_unknown(conn, client_id))
        conn.execute(delete(api_tokens).where(api_tokens.c.client_id == client_id))


def _unknown(conn: Connection, client_id: str) -> str:
    revoked = conn.execute(
        select(api_clients.c.revoked_at).where(api_clients.c.client_id == client_id)
    ).first()
    if revoked is not None:
        return f"client {client_id!r} was revoked; create a new client instead"
    return f"no client {client_id!r}; 'trustdata api-client list' shows the clients"


def list_clients(engine: Engine) -> list[Client]:
    """Every client, revoked ones included, by id."""
    columns = (
        api_clients.c.client_id,
        api_clients.c.description,
        api_clients.c.scopes,
        api_clients.c.key_id,
        api_clients.c.created_at,
        api_clients.c.revoked_at,
    )
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(api_clients.c.client_id)).all()
    return [
        Client(r.client_id, r.description, tuple(r.scopes), r.key_id, r.created_at, r.revoked_at)
        for r in rows
    ]


def authenticate(conn: Connection, credential: str) -> Caller | None:
    """The live client a key or token belongs to, or None (unknown, wrong, revoked, expired)."""
    found = _CREDENTIAL.match(credential)
    if found is None:
        return None
    kind, credential_id, secret = found.groups()
    if kind == "td":
        query = select(
            api_clients.c.client_id,
            api_clients.c.scopes,
            api_clients.c.key_hash,
            null().cast(DateTime(timezone=True)).label("expires_at"),
        ).where(api_clients.c.key_id == credential_id, api_clients.c.revoked_at.is_(None))
    else:
        query = (
            select(
                api_clients.c.client_id,
                api_clients.c.scopes,
                api_tokens.c.token_hash,
                api_tokens.c.expires_at,
            )
            .join(api_tokens, api_tokens.c.client_id == api_clients.c.client_id)
            .where(
                api_tokens.c.token_id == credential_id,
                api_tokens.c.expires_at > func.now(),
                api_clients.c.revoked_at.is_(None),
            )
        )
    row = conn.execute(query).first()
    if row is None or not hmac.compare_digest(row[2], _digest(secret)):
        return None
    return Caller(
        row.client_id, tuple(row.scopes), via_token=kind == "tdt", expires_at=row.expires_at
    )


def issue_token(engine: Engine, *, client_id: str, key: str) -> tuple[str, int]:
    """A token for the client whose key this is, and its lifetime in seconds.

    Raises ClientError when the id and key do not belong together (the message does not say
    which is wrong). Expired tokens of the client are cleared on the way.
    """
    with engine.begin() as conn:
        caller = authenticate(conn, key)
        if caller is None or caller.via_token or caller.client_id != client_id:
            raise ClientError("client_id and client_secret do not match a live client")
        token, token_id, token_hash = _new_credential("tdt")
        conn.execute(
            delete(api_tokens).where(
                api_tokens.c.client_id == client_id, api_tokens.c.expires_at <= func.now()
            )
        )
        conn.execute(
            insert(api_tokens).values(
                token_id=token_id,
                client_id=client_id,
                token_hash=token_hash,
                expires_at=func.now() + TOKEN_LIFETIME,
            )
        )
    return token, int(TOKEN_LIFETIME.total_seconds())


def record_pupil_read(
    engine: Engine,
    *,
    client_id: str,
    method: str,
    path: str,
    query: str,
    academy_id: str,
    records: int,
    status: int,
) -> None:
    """Write one pupil-level read to the access log: who, what, when, how many records."""
    with engine.begin() as conn:
        conn.execute(
            insert(api_access_log).values(
                client_id=client_id,
                method=method,
                path=path,
                query=query,
                academy_id=academy_id,
                records=records,
                status=status,
            )
        )
