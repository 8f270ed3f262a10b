"""Unpack a dataset archive (zip or tar, compressed or not) into a folder, safely.

Only regular files whose names end in a ground-truth or image extension are written; links,
devices, unsafe paths (absolute, ``..``), duplicate names, and members past the limits are
refused with a per-file problem, so one bad member never stops the import of the rest. The
total of bytes written is capped as it is written: a member that lies about its size stops at
the cap.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from worker.archives import normalize_path

KEPT_SUFFIXES = frozenset(
    {".xml", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".jp2", ".gif"}
)
COPY_CHUNK = 1024 * 1024


class DatasetArchiveError(Exception):
    """The archive as a whole cannot be read."""


@dataclass(frozen=True)
class ArchiveCaps:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int


@dataclass
class Unpacked:
    files: int = 0
    bytes_written: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def refuse(self, path: str, code: str, message: str) -> None:
        self.problems.append({"file": path, "code": code, "message": message})


@dataclass(frozen=True)
class _Entry:
    name: str
    size: int
    regular: bool
    opener: object  # a callable returning a binary stream


def unpack(archive: Path, out_dir: Path, caps: ArchiveCaps) -> Unpacked:
    """Write the archive's ground-truth and image members under ``out_dir``."""
    result = Unpacked()
    seen: set[str] = set()
    for count, entry in enumerate(_entries(archive), start=1):
        if count > caps.max_members:
            result.refuse(entry.name, "too_many_members", f"more than {caps.max_members} files")
            break
        try:
            path = normalize_path(entry.name)
        except ValueError as e:
            result.refuse(entry.name, "unsafe_path", str(e))
            continue
        if not entry.regular:
            result.refuse(path, "not_a_regular_file", "links and special files are not read")
            continue
        if Path(path).suffix.lower() not in KEPT_SUFFIXES:
            continue
        if path.casefold() in seen:
            result.refuse(path, "duplicate_name", "a second file with this name")
            continue
        seen.add(path.casefold())
        if entry.size > caps.max_member_bytes:
            result.refuse(path, "member_too_large", f"over {caps.max_member_bytes} bytes")
            continue
        room = min(caps.max_member_bytes, caps.max_total_bytes - result.bytes_written)
        try:
            written = _write(entry, out_dir / path, room)
        except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as e:
            result.refuse(path, "corrupt_member", f"unreadable: {e}")
            continue
        if written is None:
            result.refuse(path, "archive_too_large", "the dataset's total size is over the cap")
            break
        result.files += 1
        result.bytes_written += written
    return result


def _write(entry: _Entry, target: Path, room: int) -> int | None:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with entry.opener() as source, target.open("wb") as out:  # type: ignore[operator]
        while chunk := source.read(COPY_CHUNK):
            written += len(chunk)
            if written > room:
                out.close()
                target.unlink()
                return None
            out.write(chunk)
    return written


def _entries(archive: Path) -> Iterator[_Entry]:
    if zipfile.is_zipfile(archive):
        yield from _zip_entries(archive)
        return
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                yield _Entry(
                    member.name,
                    member.size,
                    member.isreg(),
                    lambda m=member: _tar_stream(tar, m),
                )
    except tarfile.TarError as e:
        raise DatasetArchiveError(f"not a readable zip or tar archive: {e}") from e


def _tar_stream(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(member)
    if stream is None:
        raise DatasetArchiveError(f"{member.name}: no data")
    return stream


def _zip_entries(archive: Path) -> Iterator[_Entry]:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                regular = mode in (0, 0o100000)  # no Unix mode, or a regular file
                yield _Entry(info.filename, info.file_size, regular, lambda i=info: zf.open(i))
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetArchiveError(f"not a readable zip archive: {e}") from e


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
