"""HTTP helpers shared by REST adapters: a request rate limit, and retries that survive a flaky MIS.

:func:`get_json` retries HTTP 429 (waiting as long as ``Retry-After`` says, within reason), 5xx,
timeouts, transport errors and bodies that are not valid JSON (usually cut off in transit),
with exponential backoff and full jitter. Messages name the path only: query values can hold
pupil data and headers hold the token.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from trustdata.adapters.base import AdapterError

log = logging.getLogger(__name__)

#: Base of the exponential backoff, in seconds; read at call time so tests can make it tiny.
BACKOFF_SECONDS = 0.5
#: The longest single backoff, in seconds.
MAX_BACKOFF_SECONDS = 30.0
#: The longest wait a ``Retry-After`` header can impose; a longer one is a misconfigured MIS.
MAX_RETRY_AFTER_SECONDS = 120.0

_SERVER_ERRORS = {500, 502, 503, 504}


@dataclass
class RateLimiter:
    """Spaces requests at least ``1 / per_second`` apart on a monotonic clock.

    One limiter per adapter instance, so an academy's extract never exceeds the rate its
    options allow. ``clock`` and ``sleep`` are injected so tests need no real waiting.
    """

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_at: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("per_second must be above 0")

    def wait(self) -> None:
        """Block until the next request is allowed, and book the slot after it."""
        now = self.clock()
        if self._next_at is not None and now < self._next_at:
            self.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + 1.0 / self.per_second


def retry_after_seconds(response: httpx.Response, default: float) -> float:
    """Seconds a 429 asks to wait: ``Retry-After`` as seconds or an HTTP date, else ``default``.

    Capped at :data:`MAX_RETRY_AFTER_SECONDS`, and never negative.
    """
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return min(default, MAX_RETRY_AFTER_SECONDS)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return float(min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS))


def _backoff(attempt: int, base: float, jitter: Callable[[], float]) -> float:
    # Full jitter: many academies' tasks retrying together spread out instead of stampeding.
    return jitter() * min(MAX_BACKOFF_SECONDS, base * 2.0**attempt)


def get_json(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    max_retries: int = 5,
    backoff_seconds: float | None = None,
    timeout: httpx.Timeout | float | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    hints: Mapping[int, str] | None = None,
    decode: Callable[[httpx.Response], object] | None = None,
) -> object:
    """GET ``url`` and return its JSON body, retrying what is usually transient.

    ``decode`` turns a successful response into the body (default: ``response.json()``); it
    raises ValueError for a body that is not valid JSON, which is retried like the default.

    Retried up to ``max_retries`` times: 429 (after ``Retry-After``), 5xx, timeouts, transport
    errors and a body that is not valid JSON. Each try first waits for ``limiter``. ``timeout``
    applies per request (None: the client's). Raises AdapterError naming the path, the failure
    and what to check (``hints`` by status, for the adapter's own options; else generic ones);
    any other 4xx is not retried.
    """
    path = httpx.URL(url).path
    base = BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
    per_request = client.timeout if timeout is None else timeout
    for attempt in range(max_retries + 1):
        last = attempt == max_retries
        delay = _backoff(attempt, base, jitter)
        if limiter is not None:
            limiter.wait()
        try:
            response = client.get(url, headers=headers, params=params, timeout=per_request)
        except httpx.TransportError as exc:  # timeouts included
            problem = type(exc).__name__
            if last:
                raise AdapterError(f"GET {path}: {problem} after {_tries(attempt + 1)}") from None
        else:
            status = response.status_code
            if status == 429:
                if last:
                    raise AdapterError(_rate_limited(path, attempt + 1))
                delay = retry_after_seconds(response, delay)
                problem = "HTTP 429"
            elif status in _SERVER_ERRORS and not last:
                problem = f"HTTP {status}"
            elif status >= 400:
                raise AdapterError(_http_error(path, status, attempt + 1, hints or HINTS))
            else:
                try:
                    return response.json() if decode is None else decode(response)
                except ValueError:
                    if last:
                        raise AdapterError(
                            f"GET {path}: the response is not valid JSON (truncated?) "
                            f"after {_tries(attempt + 1)}"
                        ) from None
                    problem = "a body that is not valid JSON"
        log.warning("GET %s: %s; retry %d in %.1fs", path, problem, attempt + 1, delay)
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


#: What to check for an HTTP status, for an API keyed by a school id and a bearer token.
HINTS = {
    401: "the MIS rejected the credential: check the token the academy's credential names",
    403: "the credential has no access to this school: check the school id and the grants",
    404: "not found: check the school id in the academy's adapter options",
}


def _rate_limited(path: str, tries: int) -> str:
    return (
        f"GET {path}: HTTP 429 after {_tries(tries)}: the MIS is rate limiting this client; "
        "lower max_requests_per_second in the academy's adapter options or retry later"
    )


def _http_error(path: str, status: int, tries: int, hints: Mapping[int, str]) -> str:
    hint = hints.get(status, "the MIS returned an error")
    if status in _SERVER_ERRORS:
        hint = f"{hint} after {_tries(tries)} (retry later)"
    return f"GET {path}: HTTP {status}: {hint}"


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"
