"""A request budget per API client: a token bucket refilled evenly, in this process."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Allows each client ``per_minute`` requests in a burst, refilled at per_minute/60 a second.

    The buckets live in this process, so with several API workers each worker has its own
    (a client gets up to workers x the limit); 0 turns limiting off.
    """

    def __init__(self, per_minute: int) -> None:
        """A limiter of ``per_minute`` requests per client."""
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client_id: str, now: float | None = None) -> float:
        """Spend one request; return 0 when allowed, else the seconds until one is."""
        if self.capacity <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, since = self._buckets.get(client_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            if tokens >= 1:
                self._buckets[client_id] = (tokens - 1, now)
                return 0.0
            self._buckets[client_id] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after(wait: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
