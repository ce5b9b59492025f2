"""OAuth2 client credentials: a client's key exchanged for a token that expires."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ingest_api.api.deps import EngineDep
from ingest_api.problems import Problem
from trustdata.access.clients import ClientError, issue_token

router = APIRouter(tags=["access"])


class TokenPublic(BaseModel):
    """An access token (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the RFC 6749 token type name)
    expires_in: int


@router.post("/token", response_model=TokenPublic)
async def token(
    engine: EngineDep,
    grant_type: Annotated[Literal["client_credentials"], Form()],
    client_id: Annotated[str, Form(max_length=63)],
    client_secret: Annotated[str, Form(max_length=200, description="The client's key")],
) -> TokenPublic:
    """A bearer token for the client, valid for an hour; its key stays the long-lived secret.

    Send ``grant_type=client_credentials``, ``client_id`` and ``client_secret`` (the key) as a
    form. A rotated key or a revoked client ends its tokens at once.
    """
    try:
        access_token, expires_in = await run_in_threadpool(
            issue_token, engine, client_id=client_id, key=client_secret
        )
    except ClientError as exc:
        raise Problem(
            401,
            "Invalid client",
            str(exc),
            headers={"WWW-Authenticate": 'Bearer realm="trustdata", error="invalid_client"'},
        ) from exc
    return TokenPublic(access_token=access_token, expires_in=expires_in)
