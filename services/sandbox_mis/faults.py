"""Deterministic faults for the sandbox MIS: rate limiting, 5xx, slow, truncated and repeated pages.

Real aggregators misbehave in a handful of ways an adapter must survive. :class:`Faults` says
which of them the sandbox injects, and :func:`parse_faults` reads the compact ``--faults``
spec documented in the README, e.g.::

    429:every=5,retry_after=1;500:every=7;slow:pages=3,seconds=2;truncate:pages=2;repeat:pages=4

Everything is counted, never random, so a test sees the same faults on every run. Request
numbers count the requests to faulted resources of one app instance, from 1; page numbers are
the page the client asked for (``page`` in the Wonde-shaped API, ``page-number`` in the
Arbor-style one). The same faults apply to either API; :mod:`sandbox_mis.fault_injector` knows
how each names its resources, pages and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sandbox_mis.arbor_objects import ENTITY_TYPES

#: The Wonde-shaped API's list resources (paths under ``/schools/{id}/``): its default scope.
LIST_RESOURCES = frozenset(
    {"students", "students-leaver", "attendance/session", "attendance-codes", "deletions"}
)
#: The Arbor-style API's paged resources (paths under ``/{school_id}/rest-v2/``), its default
#: scope: every list and every changelog. Single objects (``students/16``) are never faulted.
ARBOR_RESOURCES = frozenset(
    {
        "students",
        "attendance-records",
        "attendance-marks",
        *ENTITY_TYPES,
        *(f"{feed}/changelog" for feed in ("students", "attendance-records", *ENTITY_TYPES)),
    }
)
#: The name standing for the school object itself (``/schools/{id}``) in ``Faults.resources``.
SCHOOL_RESOURCE = "school"
#: The 5xx statuses the sandbox can inject.
ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class Faults:
    """Which faults the sandbox injects; the defaults inject nothing.

    - ``rate_limit_every``: HTTP 429 on every Nth request (0: never).
    - ``storm_start``, ``storm_length``: HTTP 429 on ``storm_length`` consecutive requests
      from request number ``storm_start`` (a "429 storm").
    - ``retry_after``: the ``Retry-After`` header of every injected 429, in seconds.
    - ``error_every``, ``error_statuses``: a 5xx on every Nth request that is not a 429; the
      statuses are used in turn.
    - ``slow_pages``, ``slow_seconds``: wait this long before answering these pages.
    - ``truncate_pages``: cut these pages' JSON body in half.
    - ``slow_always``, ``truncate_always``: fault every request for the page, not only the
      first one for its URL (so a retry succeeds by default).
    - ``repeat_pages``: page n+1 serves page n's data again, later pages shift by one and
      ``next`` keeps advancing, so a client sees duplicates but loses nothing.
    - ``resources``: where faults apply; None: every paged resource of the API served
      (:data:`LIST_RESOURCES` or :data:`ARBOR_RESOURCES`). In the Wonde-shaped API, add
      ``"school"`` to include ``/schools/{id}``.
    """

    rate_limit_every: int = 0
    storm_start: int = 1
    storm_length: int = 0
    retry_after: int = 0
    error_every: int = 0
    error_statuses: tuple[int, ...] = ERROR_STATUSES
    slow_pages: frozenset[int] = frozenset()
    slow_seconds: float = 0.0
    slow_always: bool = False
    truncate_pages: frozenset[int] = frozenset()
    truncate_always: bool = False
    repeat_pages: frozenset[int] = frozenset()
    resources: frozenset[str] | None = None

    def __post_init__(self) -> None:
        counts = (self.rate_limit_every, self.storm_length, self.retry_after, self.error_every)
        if min(counts) < 0 or self.storm_start < 1 or self.slow_seconds < 0:
            raise ValueError("fault counts and seconds must not be negative (storm start >= 1)")
        if not self.error_statuses or not set(self.error_statuses) <= set(ERROR_STATUSES):
            raise ValueError(f"error statuses must be among {ERROR_STATUSES}")
        pages = self.slow_pages | self.truncate_pages | self.repeat_pages
        if any(page < 1 for page in pages):
            raise ValueError("page numbers start at 1")
        unknown = (self.resources or frozenset()) - LIST_RESOURCES - ARBOR_RESOURCES
        unknown -= {SCHOOL_RESOURCE}
        if unknown:
            raise ValueError(f"unknown resources {sorted(unknown)}")

    def status_for(self, request_number: int) -> int | None:
        """Return the status to inject for the nth faulted request, or None to serve it."""
        storm_end = self.storm_start + self.storm_length
        if self.storm_start <= request_number < storm_end or _every(
            self.rate_limit_every, request_number
        ):
            return 429
        if _every(self.error_every, request_number):
            turn = request_number // self.error_every - 1
            return self.error_statuses[turn % len(self.error_statuses)]
        return None

    def data_page(self, page: int) -> int:
        """Return the page of data served as ``page`` once repeated pages shift the rest."""
        return page - sum(1 for repeated in self.repeat_pages if repeated < page)


def _every(n: int, request_number: int) -> bool:
    return n > 0 and request_number % n == 0


_PAGES_KEY = "pages"


def parse_faults(spec: str) -> Faults:
    """Parse a ``--faults`` spec: ``;``-separated ``kind:key=value,...`` clauses.

    Kinds and keys (``pages`` and ``resources`` list values with ``+``):

    - ``429:every=N,storm=N,start=N,retry_after=S``
    - ``5xx:every=N`` (statuses 500, 502, 503 in turn), or ``500:``/``502:``/``503:every=N``
    - ``slow:pages=P,seconds=S,always=0|1``
    - ``truncate:pages=P,always=0|1``
    - ``repeat:pages=P``
    - ``scope:resources=students+attendance/session+school`` (Arbor: e.g.
      ``students+attendance-records/changelog``)

    Raises ValueError naming the clause and the problem.
    """
    values: dict[str, Any] = {}
    for clause in filter(None, (part.strip() for part in spec.split(";"))):
        kind, _, rest = clause.partition(":")
        try:
            pairs = dict(_pair(item) for item in rest.split(",") if item.strip())
            values.update(_clause(kind.strip().lower(), pairs))
        except KeyError as missing:
            raise ValueError(f"--faults clause {clause!r}: missing key {missing}") from None
        except ValueError as error:
            raise ValueError(f"--faults clause {clause!r}: {error}") from None
    return replace(Faults(), **values)


def _pair(item: str) -> tuple[str, str]:
    key, equals, value = item.partition("=")
    if not equals:
        raise ValueError(f"expected key=value, got {item.strip()!r}")
    return key.strip().lower(), value.strip()


def _clause(kind: str, pairs: dict[str, str]) -> dict[str, Any]:
    handlers = {
        "429": ({"every", "storm", "start", "retry_after"}, _rate_limit),
        "5xx": ({"every"}, lambda p: {"error_every": int(p["every"])}),
        "slow": ({_PAGES_KEY, "seconds", "always"}, _slow),
        "truncate": ({_PAGES_KEY, "always"}, _truncate),
        "repeat": ({_PAGES_KEY}, lambda p: {"repeat_pages": _pages(p[_PAGES_KEY])}),
        "scope": ({"resources"}, lambda p: {"resources": frozenset(p["resources"].split("+"))}),
    }
    if kind in {str(status) for status in ERROR_STATUSES}:
        return {"error_every": int(pairs["every"]), "error_statuses": (int(kind),)}
    if kind not in handlers:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(handlers)}, 500, 502, 503)")
    allowed, handler = handlers[kind]
    unknown = set(pairs) - allowed
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} (known: {sorted(allowed)})")
    return handler(pairs)


def _rate_limit(pairs: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"retry_after": int(pairs.get("retry_after", "0"))}
    if "every" in pairs:
        values["rate_limit_every"] = int(pairs["every"])
    if "storm" in pairs:
        values["storm_length"] = int(pairs["storm"])
        values["storm_start"] = int(pairs.get("start", "1"))
    return values


def _slow(pairs: dict[str, str]) -> dict[str, Any]:
    return {
        "slow_pages": _pages(pairs[_PAGES_KEY]),
        "slow_seconds": float(pairs.get("seconds", "1")),
        "slow_always": _flag(pairs.get("always", "0")),
    }


def _truncate(pairs: dict[str, str]) -> dict[str, Any]:
    return {
        "truncate_pages": _pages(pairs[_PAGES_KEY]),
        "truncate_always": _flag(pairs.get("always", "0")),
    }


def _pages(text: str) -> frozenset[int]:
    return frozenset(int(page) for page in text.split("+"))


def _flag(text: str) -> bool:
    if text.lower() not in {"0", "1", "true", "false"}:
        raise ValueError(f"always must be 0 or 1, got {text!r}")
    return text.lower() in {"1", "true"}
