"""Dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from ingest_api.core.authcache import AuthCache
from ingest_api.core.cache import TtlCache
from ingest_api.core.db import engine, write_engine
from ingest_api.core.ratelimit import RateLimiter, retry_after
from ingest_api.problems import Problem
from trustdata.access.clients import Caller, authenticate
from trustdata.access.scopes import Access
from trustdata.config.trust import TrustConfig


async def get_session() -> AsyncIterator[Session]:
    """A read session on the warehouse for one request.

    Async so that opening it costs no thread hop: a Session connects only when first used, in
    the request's thread; closing returns the connection to the pool.
    """
    with Session(engine()) as session:
        yield session


def get_engine() -> Engine:
    """The warehouse engine, for the few writes the API makes (outbox, access log, tokens)."""
    return write_engine()


async def get_trust(request: Request) -> TrustConfig:
    """The trust config the app was started with."""
    trust: TrustConfig = request.app.state.trust
    return trust


async def get_cache(request: Request) -> TtlCache:
    """The process's cache of aggregate reads (ingest_api.core.cache)."""
    cache: TtlCache = request.app.state.cache
    return cache


SessionDep = Annotated[Session, Depends(get_session)]
CacheDep = Annotated[TtlCache, Depends(get_cache)]
EngineDep = Annotated[Engine, Depends(get_engine)]
TrustDep = Annotated[TrustConfig, Depends(get_trust)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A client's key (td_...) or a token from /api/v1/token (tdt_...).",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trustdata"'}


def _authenticate(credential: str) -> Caller | None:
    with engine().connect() as conn:
        return authenticate(conn, credential)


async def get_access(
    request: Request,
    trust: TrustDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Access:
    """The calling client's access; 401 without a live key or token, 429 over its budget.

    A credential seen recently is answered from the process's cache (ingest_api.core.authcache),
    which a change to any client or token empties; otherwise it is looked up.
    """
    if credentials is None:
        raise Problem(
            401,
            "Not authenticated",
            "send the client's key or token as 'Authorization: Bearer <key>'; the trust's data "
            "team creates clients with 'trustdata api-client create'",
            headers=_CHALLENGE,
        )
    cache: AuthCache = request.app.state.auth_cache
    caller = cache.get(credentials.credentials)
    if caller is None:
        generation = cache.generation()
        caller = await run_in_threadpool(_authenticate, credentials.credentials)
        if caller is not None:
            cache.put(credentials.credentials, caller, generation)
    if caller is None:
        raise Problem(
            401,
            "Invalid credentials",
            "the key or token is unknown, revoked or expired: ask for a new key, or get a new "
            "token from /api/v1/token",
            headers={"WWW-Authenticate": 'Bearer realm="trustdata", error="invalid_token"'},
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(caller.client_id)
    if wait:
        raise Problem(
            429,
            "Too many requests",
            f"client {caller.client_id!r} has used its {limiter.capacity:.0f} requests a minute; "
            "retry after the seconds in Retry-After",
            headers={"Retry-After": retry_after(wait)},
        )
    return Access.resolve(caller.client_id, caller.scopes, trust)


AccessDep = Annotated[Access, Depends(get_access)]


def require_unit(
    access: Access, session: Session, *, level: str, unit_id: str, cache: TtlCache | None = None
) -> None:
    """404 for a unit the trust does not have, 403 for one outside the client's scopes."""
    from ingest_api import crud

    def exists() -> bool:
        return crud.unit_exists(session, level=level, unit_id=unit_id)

    if not (exists() if cache is None else cache.get(("unit", level, unit_id), exists)):
        raise Problem(404, f"Unknown {level}", f"no {level} with id {unit_id!r} in the trust")
    if not access.sees(level, unit_id):
        raise Problem(
            403,
            "Outside the client's scopes",
            f"client {access.client_id!r} may not read {level} {unit_id!r} "
            f"(its scopes: {', '.join(access.scopes)})",
        )


def trust_id(session: Session, cache: TtlCache) -> str:
    """The trust's id in the warehouse; 404 before the pipeline has written it."""
    from sqlalchemy import select

    from trustdata.warehouse.tables import trust

    def read() -> str | None:
        found: str | None = session.connection().execute(select(trust.c.trust_id)).scalar()
        return found

    found = cache.get(("trust",), read)
    if found is None:
        raise Problem(404, "Unknown trust", "the warehouse holds no trust yet: run the pipeline")
    return found


@dataclass(frozen=True)
class ReadContext:
    """What an aggregate read needs besides its unit and filters: the request and response
    (for Link headers), the warehouse session, the caller's access and the read cache."""

    request: Request
    response: Response
    session: Session
    access: Access
    cache: TtlCache


async def get_read_context(
    request: Request, response: Response, session: SessionDep, access: AccessDep, cache: CacheDep
) -> ReadContext:
    """The read context of a request (authenticated: AccessDep runs first)."""
    return ReadContext(request, response, session, access, cache)


ReadDep = Annotated[ReadContext, Depends(get_read_context)]
