"""The API's in-process helpers: the aggregate cache and the request budget (no database)."""

from __future__ import annotations

import time

from ingest_api.core.cache import TtlCache
from ingest_api.core.ratelimit import RateLimiter, retry_after
from ingest_api.representation import _prefers_csv, to_csv


def test_the_cache_keeps_a_value_for_its_seconds_only() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    cache = TtlCache(0.2, max_entries=2)
    assert [cache.get("a", compute), cache.get("a", compute)] == [1, 1]
    time.sleep(0.25)
    assert cache.get("a", compute) == 2
    cache.get("b", compute), cache.get("c", compute)  # "a" is the oldest: out
    assert cache.get("a", compute) == 5
    off = TtlCache(0)
    assert [off.get("a", compute), off.get("a", compute)] == [6, 7]


def test_the_budget_refills_evenly_per_client() -> None:
    limiter = RateLimiter(60)  # one a second, a burst of 60
    assert all(limiter.take("a", now=100.0) == 0 for _ in range(60))
    wait = limiter.take("a", now=100.0)
    assert 0.99 < wait <= 1.0 and retry_after(wait) == "1"
    assert limiter.take("b", now=100.0) == 0  # another client has its own budget
    assert limiter.take("a", now=101.5) == 0  # 1.5 s later, one more
    assert RateLimiter(0).take("a") == 0


def test_csv_negotiation_and_flattening() -> None:
    assert _prefers_csv("text/csv") and not _prefers_csv("application/json")
    assert not _prefers_csv("text/csv;q=0.5, application/json")
    assert _prefers_csv("text/csv, application/json;q=0.9") and not _prefers_csv("*/*")
    assert not _prefers_csv("text/csv;q=nonsense")
    body = {"data": [{"a": 1, "b": {"c": True, "d": None}, "e": [1, 2]}], "count": 1}
    assert to_csv(body).decode() == 'a,b_c,b_d,e\r\n1,true,,"[1,2]"\r\n'
