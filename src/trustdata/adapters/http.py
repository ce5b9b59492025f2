"""HTTP helpers shared by REST adapters: retries with backoff and jitter, honouring 429."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import httpx

from trustdata.adapters.base import AdapterError

log = logging.getLogger(__name__)

_RETRYABLE = {429, 500, 502, 503, 504}


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def get_json(
    client: httpx.Client,
    url: str,
    *,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    max_retries: int = 5,
    backoff_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> object:
    """GET ``url`` and return its JSON body, retrying 429, 5xx and transport errors.

    Raises AdapterError with the status and a hint for anything else. Messages name the path,
    never query values, so no pupil data or token can leak into a log.
    """
    path = httpx.URL(url).path
    for attempt in range(max_retries + 1):
        delay = backoff_seconds * (2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter
        try:
            response = client.get(url, headers=headers, params=params)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            if attempt == max_retries:
                raise AdapterError(
                    f"GET {path}: {type(exc).__name__} after {attempt + 1} tries"
                ) from None
            log.warning(
                "GET %s: %s; retry %d in %.1fs", path, type(exc).__name__, attempt + 1, delay
            )
            sleep(delay)
            continue
        if response.status_code in _RETRYABLE and attempt < max_retries:
            wait = _retry_after(response, delay) if response.status_code == 429 else delay
            log.warning(
                "GET %s: HTTP %d; retry %d in %.1fs", path, response.status_code, attempt + 1, wait
            )
            sleep(wait)
            continue
        return _decode(response, path)
    raise AssertionError("unreachable")  # pragma: no cover


_HINTS = {
    401: "the MIS rejected the credential: check the token the academy's credential names",
    403: "the credential has no access to this school: check the school id and the grants",
    404: "not found: check the school id in the academy's adapter options",
}


def _decode(response: httpx.Response, path: str) -> object:
    if response.status_code >= 400:
        hint = _HINTS.get(response.status_code, "the MIS returned an error")
        raise AdapterError(f"GET {path}: HTTP {response.status_code}: {hint}")
    try:
        return response.json()
    except ValueError:
        raise AdapterError(f"GET {path}: the response is not valid JSON (truncated?)") from None
