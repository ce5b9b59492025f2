"""Reading a CTF file: the safety check before parsing, the streaming parse that hands over the
header and one pupil at a time, the header check, and small element helpers.

What is read from each pupil is in :mod:`trustdata.adapters.ctf_pupil`; the format as this
platform reads it is described in :mod:`trustdata.adapters.ctf`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO

from trustdata.adapters.base import AdapterError

_DOCUMENT_NAME = "Common Transfer File"
_MIN_VERSION = 20
_PROLOG_LIMIT = 64 * 1024
_COMMENTS_AND_PIS = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
# Pupil children that hold fields we emit; the rest (contacts...) is dropped unread.
_USED = {"UPN", "DOB", "Sex", "Gender", "BasicDetails", "NCyearActual"}
_USED |= {"FSMhistory", "LookedAfter", "SENhistory", "EAL"}
_USED |= {"SchoolHistory", "Attendance", "StageAssessments"}


@dataclass(frozen=True, slots=True)
class Header:
    """What a file's header says that the pupils are read with."""

    as_at: date  # FSM and FSM6 are judged on this date
    laestab: str | None  # the source school's LEA + Estab, None if not 3 + 4 digits


def _prolog(handle: IO[bytes], name: str) -> None:
    """Refuse DTDs: expat would expand internal entities, so a file could blow up memory."""
    head = handle.read(_PROLOG_LIMIT)
    handle.seek(0)
    if head.startswith((b"\xfe\xff", b"\xff\xfe")):
        raise AdapterError(f"{name}: UTF-16 files are not read (save the CTF as UTF-8)")
    head = _COMMENTS_AND_PIS.sub(b"", head)
    root = _ROOT_START.search(head)
    prolog = head if root is None else head[: root.start()]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise AdapterError(f"{name}: has a DOCTYPE or entity declaration, which CTFs never need")
    if root is None and len(head) == _PROLOG_LIMIT:
        raise AdapterError(f"{name}: no root element in the first {_PROLOG_LIMIT} bytes")


def read_sections(path: Path) -> Generator[ET.Element, None, None]:
    """Yield ``Header`` and each ``CTFpupilData/Pupil`` complete, freeing each after use."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AdapterError(f"{path.name}: cannot be read ({exc.strerror})") from None
    with handle:
        _prolog(handle, path.name)
        stack: list[ET.Element] = []
        try:
            # Safe here: _prolog refused DTDs, and ElementTree never fetches external entities.
            for event, elem in ET.iterparse(handle, events=("start", "end")):  # noqa: S314
                if event == "start":
                    if not stack and elem.tag != "CTfile":
                        raise AdapterError(f"{path.name}: root element is not CTfile")
                    stack.append(elem)
                    continue
                stack.pop()
                depth, parent = len(stack), stack[-1] if stack else None
                in_pupils = depth >= 2 and stack[1].tag == "CTFpupilData"
                if depth == 1 or (depth == 2 and in_pupils):
                    if elem.tag in ("Header", "Pupil"):
                        yield elem
                elif not (depth == 3 and in_pupils and elem.tag not in _USED):
                    continue
                # Detach what is done with, so a file of thousands of pupils never piles up.
                assert parent is not None
                parent.remove(elem)
                elem.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            raise AdapterError(
                f"{path.name}: not well-formed XML at line {line}, column {column}"
            ) from None


def child_text(parent: ET.Element | None, path: str = ".") -> str | None:
    """The stripped text at ``path`` under ``parent``; None when missing, empty or no parent."""
    text = parent.findtext(path) if parent is not None else None
    return (text.strip() or None) if text else None


def laestab(parent: ET.Element | None) -> str | None:
    """``LEA`` + ``Estab`` as a 7-digit LAESTAB, or None unless they are 3 and 4 digits."""
    lea, estab = child_text(parent, "LEA"), child_text(parent, "Estab")
    if lea and estab and len(lea) == 3 and len(estab) == 4 and (lea + estab).isdigit():
        return lea + estab
    return None


def find_container(pupil: ET.Element, path: str) -> ET.Element | None:
    """A pupil's container at ``path``, directly under ``Pupil`` or else under ``BasicDetails``."""
    found = pupil.find(path)
    return found if found is not None else pupil.find(f"BasicDetails/{path}")


def read_header(
    path: Path, sections: Iterator[ET.Element], *, urn: str, fsm6_as_at: date | None
) -> Header:
    """Check the header that must open the file; return what pupils are read with.

    ``urn`` and ``fsm6_as_at`` are the adapter's options of those names.
    """
    name = path.name
    header = next(sections, None)
    if header is None or header.tag != "Header":
        raise AdapterError(f"{name}: no Header before the pupils (not a CTF?)")
    if child_text(header, "DocumentName") != _DOCUMENT_NAME:
        raise AdapterError(f"{name}: Header/DocumentName is not {_DOCUMENT_NAME!r}")
    version = child_text(header, "CTFversion") or ""
    major = version.partition(".")[0]
    if not major.isdigit() or int(major) < _MIN_VERSION:
        raise AdapterError(
            f"{name}: Header/CTFversion is {version[:20]!r}; CTF {_MIN_VERSION} or later "
            "is needed (export the CTF again from an up-to-date MIS)"
        )
    source = header.find("SourceSchool")
    found = child_text(source, "URN")
    if found != urn:
        raise AdapterError(
            f"{name}: Header/SourceSchool/URN is {(found or '')[:10]!r}, not the "
            f"academy's {urn} (option 'urn'): a CTF from another school (one received from "
            "a pupil's previous school, or a file in the wrong folder); move it out of this "
            "folder"
        )
    if fsm6_as_at is not None:
        return Header(fsm6_as_at, laestab(source))
    try:
        as_at = datetime.fromisoformat(child_text(header, "DateTime") or "").date()
    except ValueError:
        raise AdapterError(
            f"{name}: Header/DateTime is missing or not an ISO date-time "
            "(set option 'fsm6_as_at' to judge FSM on a fixed date)"
        ) from None
    return Header(as_at, laestab(source))
