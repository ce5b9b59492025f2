"""Reading one school's Arbor host: HTTP Basic, list pages, changelogs, reads by id.

The wire format is described in ``trustdata.adapters.arbor`` (the adapter built on this);
everything here is transport: no canonical records are made.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from trustdata.adapters.arbor_records import camel, list_of, ref_id
from trustdata.adapters.base import AdapterError, Window
from trustdata.adapters.rest import RestAdapter, RestOptions


class ArborOptions(RestOptions):
    """Options of an academy on Arbor."""

    base_url: str = Field(
        pattern=r"^https?://",
        description="the school's Arbor host (in the sandbox: root URL + '/' + school id)",
    )
    username: str = Field(min_length=1, description="the HTTP Basic user of the API account")
    page_size: int = Field(default=500, ge=1, le=1000)


@dataclass
class Changelog:
    """The changes of one resource after a revision, and the revision they run to."""

    current: int
    changes: Iterator[Mapping[str, Any]]


class ArborApi(RestAdapter[ArborOptions]):
    """The read calls of the Arbor REST API the adapter is made of."""

    http_hints: ClassVar[Mapping[int, str]] = {
        401: "Arbor rejected the login: check the username option and the password the "
        "academy's credential names",
        403: "the API user may not read this resource: check its permissions in Arbor",
        404: "not found: check base_url (the school's Arbor host)",
    }

    @property
    def _headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.options.username}:{self._secret}".encode()).decode()
        return {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def _url(self, resource: str) -> str:
        return f"{self.options.base_url.rstrip('/')}/rest-v2/{resource}"

    def _read(self, resource: str, params: dict[str, str] | None = None) -> object:
        return self._get(self._url(resource), headers=self._headers, params=params)

    def _pages(
        self, resource: str, key: str, params: dict[str, str] | None = None
    ) -> Iterator[list[Mapping[str, Any]]]:
        """Read a list page by page until a page is empty."""
        number = 1
        while True:
            query = {**(params or {}), "page-number": str(number)}
            query["page-size"] = str(self.options.page_size)
            rows = list_of(self._read(resource, query), key, resource)
            if not rows:
                return
            yield rows
            number += 1

    def _all(self, resource: str) -> list[Mapping[str, Any]]:
        return [row for rows in self._pages(resource, camel(resource)) for row in rows]

    def _changelog(self, resource: str, after: int, page_size: int | None = None) -> Changelog:
        """Open the changelog after ``after``; later pages are pinned to the first's revision."""
        path = f"{resource}/changelog"
        size = str(page_size or self.options.page_size)
        first = self._read(path, {"from-revision": str(after), "page-size": size})
        if not isinstance(first, Mapping) or not isinstance(first.get("changes"), list):
            raise AdapterError(f"{path}: expected a JSON object with a 'changes' list")
        try:
            current = int(first.get("currentRevision", after))
        except (TypeError, ValueError):
            raise AdapterError(f"{path}: currentRevision is not a whole number") from None

        def changes() -> Iterator[Mapping[str, Any]]:
            rows = list_of(first, "changes", path)
            number = 1
            while rows:
                yield from rows
                number += 1
                query = {
                    "from-revision": str(after),
                    "to-revision": str(current),
                    "page-number": str(number),
                    "page-size": size,
                }
                rows = list_of(self._read(path, query), "changes", path)

        return Changelog(current, changes())

    @staticmethod
    def _after(window: Window) -> int:
        if window.cursor is None:
            return 0
        try:
            return int(window.cursor)
        except ValueError:
            raise AdapterError(
                "the stored Arbor cursor is not a revision number; clear it for a full pull"
            ) from None

    def source_key(self) -> str:
        """The school's host: another host is another change history."""
        return f"arbor:{self.options.base_url.rstrip('/')}"

    def check_connection(self) -> None:
        """Read one student: proves the host, the user and the password."""
        self._read("students", {"page-size": "1"})

    def _by_id(self, resource: str, key: str, ids: list[str]) -> list[Mapping[str, Any]]:
        """Read objects by id with one ``filters.id.in`` list read (more pages only if the
        server pages it); ids it no longer serves are left out."""
        wanted = set(ids)
        rows: list[Mapping[str, Any]] = []
        for page in self._pages(resource, key, {"filters.id.in": ",".join(ids)}):
            got = {ref_id(row) for row in page}
            if not got <= set(ids):
                raise AdapterError(
                    f"{resource}: the list ignored filters.id.in (it returned other records); "
                    "the Arbor API must support id filters for incremental attendance: "
                    "clear the attendance cursor to read in full"
                )
            rows.extend(page)
            wanted -= got
            if not wanted:
                break
        return rows
