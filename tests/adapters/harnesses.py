"""One harness per registered adapter, for the shared contract suite.

A harness builds a working adapter over fixture data (the sandbox MIS, generated files) and
says what a full read should hold. Registering an adapter without a harness fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sandbox_mis.dataset import generate
from sandbox_mis.testing import running_sandbox
from trustdata.adapters.base import Adapter
from trustdata.adapters.registry import adapter_class


@dataclass
class Harness:
    """A working adapter, its valid options, and a version with a wrong secret."""

    adapter: Adapter[Any]
    options: dict[str, Any]
    secret: str
    wrong_secret_adapter: Adapter[Any] | None


def build(kind: str, options: dict[str, Any], secret: str, client: httpx.Client) -> Adapter[Any]:
    cls = adapter_class(kind)
    return cls(options=cls.Options.model_validate(options), secret=secret, client=client)


@contextmanager
def wonde_harness(tmp_path: Path) -> Iterator[Harness]:
    with running_sandbox(generate(scale=0.02)) as base, httpx.Client() as client:
        options = {
            "base_url": base,
            "school_id": "A1000000001",
            "per_page": 100,
            "max_retries": 0,
            "max_requests_per_second": 100,
        }
        yield Harness(
            adapter=build("wonde", options, "sandbox-demo-token", client),
            options=options,
            secret="sandbox-demo-token",
            wrong_secret_adapter=build("wonde", options, "s3cret-wrong", client),
        )


@contextmanager
def csv_harness(tmp_path: Path) -> Iterator[Harness]:
    from tests.adapters.test_csv_export import write_drop_folder

    options = write_drop_folder(tmp_path / "drop")
    with httpx.Client() as client:
        # File adapters take no secret, so there is no wrong one to try.
        yield Harness(build("csv", options, "none", client), options, "none", None)


@contextmanager
def ctf_harness(tmp_path: Path) -> Iterator[Harness]:
    from tests.adapters.test_ctf import write_ctf_folder

    options = write_ctf_folder(tmp_path / "drop")
    with httpx.Client() as client:
        # File adapters take no secret, so there is no wrong one to try.
        yield Harness(build("ctf", options, "none", client), options, "none", None)


@contextmanager
def arbor_harness(tmp_path: Path) -> Iterator[Harness]:
    from sandbox_mis.arbor_testing import running_arbor

    with running_arbor(generate(scale=0.02)) as root, httpx.Client() as client:
        options = {
            "base_url": f"{root}/A1000000001",
            "username": "A1000000001",
            "page_size": 1000,
            "max_retries": 0,
            "max_requests_per_second": 100,
        }
        yield Harness(
            adapter=build("arbor", options, "sandbox-demo-token", client),
            options=options,
            secret="sandbox-demo-token",
            wrong_secret_adapter=build("arbor", options, "s3cret-wrong", client),
        )


HARNESSES: dict[str, Callable[[Path], AbstractContextManager[Harness]]] = {
    "wonde": wonde_harness,
    "csv": csv_harness,
    "ctf": ctf_harness,
    "arbor": arbor_harness,
}
