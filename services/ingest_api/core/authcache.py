"""Authenticated credentials, cached in each API process and dropped the moment one changes.

Looking a key up on every request was the largest cost of a cached aggregate read (a query
and two thread hops). A revoked or rotated key must still stop working at once, so the cache
is trusted only while a listener holds a ``LISTEN`` on the warehouse: migration 0016's
triggers notify ``trustdata_api_credentials`` whenever a client or token row is updated or
deleted (by the CLI or by hand), and the listener empties the cache on it. When the listener
is not connected (starting, or its connection lost) nothing is cached and every request is
looked up, as before. A notification that arrives while a lookup is in flight is not missed:
a lookup stores its answer only if no notification came since it started. A token's entry
ends when the token expires; any entry ends after ``max_age`` seconds, whatever happens.
Unknown or revoked credentials are never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from trustdata.access.clients import Caller

log = logging.getLogger(__name__)

CHANNEL = "trustdata_api_credentials"
_STOPPING = "listener stopping"
"""The payload an API process sends to wake its own listener; no credential changed."""


class AuthCache:
    """Callers by credential, valid while the listener is connected and nothing changed."""

    def __init__(self, max_age: float = 60.0, max_entries: int = 10_000) -> None:
        """An empty cache, not yet trusted (``listening`` is False until the listener runs)."""
        self.max_age, self.max_entries = max_age, max_entries
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.listening = False

    def __len__(self) -> int:
        """How many credentials are cached."""
        return len(self._entries)

    @staticmethod
    def _key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def get(self, credential: str) -> Caller | None:
        """The cached caller for this credential, or None (look it up)."""
        if not self.listening:
            return None
        key = self._key(credential)
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return found[1]

    def generation(self) -> int:
        """Take before a lookup; hand to ``put`` so a change during the lookup is not cached."""
        return self._generation

    def put(self, credential: str, caller: Caller, generation: int) -> None:
        """Remember a caller just looked up, unless a change was notified since ``generation``."""
        until = time.monotonic() + self.max_age
        if caller.expires_at is not None:
            left = (caller.expires_at - datetime.now(UTC)).total_seconds()
            until = min(until, time.monotonic() + left)
        with self._lock:
            if not self.listening or generation != self._generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[self._key(credential)] = (until, caller)

    def invalidate(self) -> None:
        """Forget every entry (a client or token changed, or the listener lost its link)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def set_listening(self, listening: bool) -> None:
        """Trust the cache (listener connected) or not; either way it starts empty."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self.listening = listening


def listen(
    cache: AuthCache,
    conninfo: str,
    stop: threading.Event,
    *,
    retry_seconds: float = 5.0,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Hold a LISTEN on the warehouse and empty ``cache`` on each notification, until ``stop``.

    Runs in a thread of its own. A lost connection turns the cache off until a new LISTEN
    is in place (every request is looked up meanwhile).
    """
    while not stop.is_set():
        try:
            # Keepalives: a link that dies silently is noticed in about 25 s (and any entry
            # ends after max_age regardless).
            with psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=10,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                cache.set_listening(True)
                if on_listening is not None:
                    on_listening()
                while not stop.is_set():
                    for notice in conn.notifies(timeout=1.0):
                        if notice.payload == _STOPPING and stop.is_set():
                            break
                        cache.invalidate()
        except psycopg.Error as exc:
            log.warning("credential cache off: the warehouse listener failed: %s", exc)
        finally:
            cache.set_listening(False)
        stop.wait(retry_seconds)


def start_listener(cache: AuthCache, conninfo: str) -> Callable[[], None]:
    """Start ``listen`` in a daemon thread; return the function that stops it.

    Stopping sets the thread's stop event and sends a notification, so the thread wakes now
    rather than at the end of its one-second wait (a restart or a test's teardown waits on it).
    """
    stop = threading.Event()
    thread = threading.Thread(
        target=listen, args=(cache, conninfo, stop), name="credential-listener", daemon=True
    )
    thread.start()

    def stop_listening() -> None:
        stop.set()
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(conninfo, autocommit=True, connect_timeout=2) as conn,
        ):
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, _STOPPING))
        thread.join(timeout=5)

    return stop_listening
