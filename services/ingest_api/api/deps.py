"""Dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from ingest_api.core.db import engine


def get_session() -> Iterator[Session]:
    """A read session on the warehouse for one request."""
    with Session(engine()) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
