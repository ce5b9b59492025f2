"""A small time-limited cache for the aggregate reads, in each API process.

The marts change only when the warehouse build runs (minutes apart), so an aggregate answered
in the last few seconds is answered again without touching the warehouse. Scope checks are
never cached: they run on every request. Pupil-level reads, freshness, quality and run history
are not cached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class TtlCache:
    """Values by key for ``seconds`` (0: no caching), at most ``max_entries`` (oldest out)."""

    def __init__(self, seconds: float, max_entries: int = 4096) -> None:
        """An empty cache."""
        self.seconds, self.max_entries = seconds, max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()`` stored for next time."""
        if self.seconds <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > now:
                value: T = found[1]
                return value
        value = compute()  # outside the lock: two threads may both compute; both are right
        with self._lock:
            self._entries[key] = (now + self.seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything (e.g. after a build, in tests)."""
        with self._lock:
            self._entries.clear()
