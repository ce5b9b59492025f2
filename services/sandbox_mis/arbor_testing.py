"""Run the Arbor-style sandbox MIS in a background thread for tests, benchmarks and notebooks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sandbox_mis.arbor import create_arbor_app
from sandbox_mis.models import Dataset
from sandbox_mis.testing import running_app


@contextmanager
def running_arbor(dataset: Dataset) -> Iterator[str]:
    """Serve ``dataset`` Arbor-style on a free port of 127.0.0.1; yield the root URL.

    A school's base URL (its "host") is the root URL plus ``/{school_id}``; its resources are
    under ``/{school_id}/rest-v2/``. The server accepts connections when the block starts and
    is stopped when it ends.
    """
    with running_app(create_arbor_app(dataset)) as root:
        yield root
