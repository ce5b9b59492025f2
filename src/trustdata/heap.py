"""The long-lived part of a pipeline process's heap, kept out of the cyclic collector's way.

A landing makes a thousand small objects a page (decoded marks, records), and CPython's cyclic
collector runs every few hundred allocations; every so often it walks everything a process has
ever made, several hundred thousand objects once Great Expectations is imported. That walk is
pure overhead for objects that live as long as the process (modules, their tables, the GX
context). Measured on pages of the sandbox's marks with GX imported, the collector cost 0.74 us
a mark, and 0.11 us once those objects were frozen (``gc.freeze``). In a 15,000-pupil backfill
(``bench/bench_trust_backfill.py``), the workers spent 4.3 s in the collector before and 2.6 s
after, of 37 s of CPU.

Each step (the first landing of a process, the GX import) freezes once per process, after a
full collection, so no garbage is frozen with them; what later tasks make is collected as
before.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_done: set[str] = set()


def freeze_long_lived(step: str) -> None:
    """Collect, then freeze every object now alive; once per process for each ``step``."""
    with _lock:
        if step in _done:
            return
        _done.add(step)
        gc.collect()
        gc.freeze()
