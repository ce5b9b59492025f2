"""Freezing a process's long-lived objects out of the cyclic collector's way."""

from __future__ import annotations

import gc
import weakref

from trustdata.heap import freeze_long_lived


class Node:
    def __init__(self) -> None:
        self.me = self


def test_a_step_freezes_once_and_garbage_is_collected_first() -> None:
    kept = [Node() for _ in range(100)]
    dropped = weakref.ref(Node())  # a cycle no one holds
    assert dropped() is not None
    before = gc.get_freeze_count()
    freeze_long_lived("test-step")
    frozen = gc.get_freeze_count()
    assert frozen >= before + len(kept)
    assert dropped() is None  # collected, not frozen
    freeze_long_lived("test-step")
    assert gc.get_freeze_count() == frozen
