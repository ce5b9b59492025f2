"""Query parameters of the list endpoints, parsed by hand so errors are 400s with a message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from fastapi import Request

#: Page size when the client does not ask for one, and the largest the server returns.
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000

# strptime alone would accept "2025-9-3 9:5:0"; the wire format has fixed-width fields.
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")


class ApiError(Exception):
    """An error response: HTTP status, a short error code and a human description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Paging and the incremental filter shared by every list endpoint."""

    page: int
    per_page: int
    updated_after: datetime | None

    @property
    def offset(self) -> int:
        """Return the number of rows before this page."""
        return (self.page - 1) * self.per_page


async def list_query(request: Request) -> ListQuery:
    """Parse ``page``, ``per_page`` (clamped to 1,000) and ``updated_after``."""
    params = request.query_params
    page = _positive_int(params.get("page"), "page", 1)
    per_page = min(
        _positive_int(params.get("per_page"), "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE
    )
    updated_after = None
    if (text := params.get("updated_after")) is not None:
        try:
            if not _DATETIME.match(text):
                raise ValueError(text)
            updated_after = datetime.fromisoformat(text)
        except ValueError:
            raise ApiError(
                400, "invalid_request", "updated_after must have the format YYYY-MM-DD HH:MM:SS"
            ) from None
    return ListQuery(page=page, per_page=per_page, updated_after=updated_after)


def optional_date(request: Request, name: str) -> date | None:
    """Parse an optional ``YYYY-MM-DD`` query parameter."""
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must have the format YYYY-MM-DD") from None


def _positive_int(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ApiError(400, "invalid_request", f"{name} must be a whole number of 1 or more")
    return int(text)
