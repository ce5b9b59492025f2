"""Dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from ingest_api.core.db import engine
from trustdata.config.trust import TrustConfig


def get_session() -> Iterator[Session]:
    """A read session on the warehouse for one request."""
    with Session(engine()) as session:
        yield session


def get_engine() -> Engine:
    """The warehouse engine, for the few writes the API makes (the event outbox)."""
    return engine()


def get_trust(request: Request) -> TrustConfig:
    """The trust config the app was started with."""
    trust: TrustConfig = request.app.state.trust
    return trust


SessionDep = Annotated[Session, Depends(get_session)]
EngineDep = Annotated[Engine, Depends(get_engine)]
TrustDep = Annotated[TrustConfig, Depends(get_trust)]
