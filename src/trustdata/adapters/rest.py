"""What every REST adapter shares: retry, rate and timeout options, and one way to GET.

Each REST adapter's options extend ``RestOptions`` and the adapter extends ``RestAdapter``, so
the request budget, the timeout and the retry policy are the same knobs for every MIS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import ClassVar, TypeVar

import httpx
from pydantic import Field

from trustdata.adapters.base import Adapter, AdapterOptions
from trustdata.adapters.http import HINTS, RateLimiter, get_json


class RestOptions(AdapterOptions):
    """Options every REST adapter takes."""

    max_retries: int = Field(default=5, ge=0, le=10)
    # The default is gentle on a remote MIS, whose limits are not published (a 429 with
    # Retry-After is honoured whatever this says); the ceiling only stops a typing slip. At
    # 1,000 marks a page, 100 requests a second capped one academy's landing at 100,000 marks
    # a second, below what the pipeline itself reaches from the local sandbox.
    max_requests_per_second: float = Field(
        default=10.0, gt=0, le=1000, description="the most requests per second sent to the MIS"
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="how long one request may take before a retry"
    )


RestOptionsT = TypeVar("RestOptionsT", bound=RestOptions)


class RestAdapter(Adapter[RestOptionsT]):
    """An adapter that reads a REST API through ``get_json`` with its options' limits.

    ``http_hints`` say what to check for an HTTP status, in the terms of the adapter's options.
    """

    http_hints: ClassVar[Mapping[int, str]] = HINTS

    @cached_property
    def _limiter(self) -> RateLimiter:
        # One per adapter, so every page and retry of an academy's extract shares the budget.
        return RateLimiter(self.options.max_requests_per_second)

    @property
    def _timeout(self) -> httpx.Timeout:
        seconds = self.options.timeout_seconds
        return httpx.Timeout(seconds, connect=min(seconds, 10.0))

    def _get(
        self,
        url: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        decode: Callable[[httpx.Response], object] | None = None,
    ) -> object:
        """GET ``url`` as JSON, with retries, the rate limit and the timeout applied.

        ``decode`` replaces ``response.json()`` (see :func:`get_json`).
        """
        return get_json(
            self.client,
            url,
            headers=headers,
            params=params,
            max_retries=self.options.max_retries,
            timeout=self._timeout,
            limiter=self._limiter,
            hints=self.http_hints,
            decode=decode,
        )
