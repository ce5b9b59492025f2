"""Drop folders: where file adapters (CSV reports, CTF files) find what an academy exported.

A file's watermark is its modification time, so an incremental read takes the files changed
since the last published one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from trustdata.adapters.base import AdapterError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def file_watermark(path: Path) -> datetime:
    """A file's modification time in UTC, truncated to microseconds as PostgreSQL stores it."""
    return _EPOCH + timedelta(microseconds=path.stat().st_mtime_ns // 1000)


def existing_folder(folder: Path) -> Path:
    """Return the folder, or raise AdapterError naming the option to fix."""
    if not folder.is_dir():
        raise AdapterError(
            f"option 'folder': {folder} is not an existing folder "
            "(check the path and that the drop share is mounted on this machine)"
        )
    return folder


def files_after(folder: Path, pattern: str, after: datetime | None) -> list[tuple[datetime, Path]]:
    """Files matching ``pattern`` changed after ``after`` (all when None), oldest first."""
    if after is not None and after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    stamped = [(file_watermark(p), p) for p in existing_folder(folder).glob(pattern) if p.is_file()]
    return sorted((stamp, path) for stamp, path in stamped if after is None or stamp > after)
