"""Run the Arbor-style sandbox MIS in a background thread for tests, benchmarks and notebooks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from sandbox_mis.arbor import create_arbor_app
from sandbox_mis.arbor_index import ArborSchool
from sandbox_mis.faults import Faults
from sandbox_mis.models import Dataset
from sandbox_mis.testing import running_app


@dataclass(frozen=True, slots=True)
class ArborSandbox:
    """A running Arbor-style sandbox: its root URL, and its schools to change while serving."""

    root: str
    app: FastAPI

    def school(self, school_id: str) -> ArborSchool:
        """The served school, e.g. to ``correct_mark``, ``delete_mark``, ``add_object`` or
        ``add_code``.

        Changes take the school's next revision and show in its changelog at once; make them
        between requests, as a test does.
        """
        schools: dict[str, ArborSchool] = self.app.state.arbor
        return schools[school_id]

    def host(self, school_id: str) -> str:
        """The school's base URL (its "host"): the root URL plus ``/{school_id}``."""
        return f"{self.root}/{school_id}"


@contextmanager
def serving_arbor(dataset: Dataset, faults: Faults | None = None) -> Iterator[ArborSandbox]:
    """Serve ``dataset`` Arbor-style on a free port of 127.0.0.1; yield the running sandbox.

    ``faults`` are injected from the first request (see :mod:`sandbox_mis.faults`).
    """
    app = create_arbor_app(dataset, faults)
    with running_app(app) as root:
        yield ArborSandbox(root, app)


@contextmanager
def running_arbor(dataset: Dataset, faults: Faults | None = None) -> Iterator[str]:
    """Serve ``dataset`` Arbor-style on a free port of 127.0.0.1; yield the root URL.

    A school's base URL (its "host") is the root URL plus ``/{school_id}``; its resources are
    under ``/{school_id}/rest-v2/``. The server accepts connections when the block starts and
    is stopped when it ends; ``faults`` are injected from the first request.
    """
    with serving_arbor(dataset, faults) as sandbox:
        yield sandbox.root
