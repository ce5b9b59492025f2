"""The adapter registry: one line per MIS adapter, imported only when used."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from trustdata.adapters.base import Adapter

_ADAPTERS: dict[str, str] = {
    "arbor": "trustdata.adapters.arbor:ArborAdapter",
    "csv": "trustdata.adapters.csv_export:CsvExportAdapter",
    "ctf": "trustdata.adapters.ctf:CtfAdapter",
    "wonde": "trustdata.adapters.wonde:WondeAdapter",
}


def known_kinds() -> list[str]:
    """Return the adapter kinds a trust config may name."""
    return sorted(_ADAPTERS)


def adapter_class(kind: str) -> type[Adapter[Any]]:
    """Return the adapter class registered for ``kind``."""
    try:
        module_name, _, class_name = _ADAPTERS[kind].partition(":")
    except KeyError:
        raise KeyError(
            f"unknown adapter kind {kind!r} (known: {', '.join(known_kinds())})"
        ) from None
    adapter: type[Adapter[Any]] = getattr(import_module(module_name), class_name)
    return adapter
