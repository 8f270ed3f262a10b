"""The backup's manifest: what the folder holds, with sizes and SHA-256 of every file.

A backup folder is ``manifest.json`` (written last: a folder without it is an unfinished
backup), the database dump, ``objects.jsonl`` (one ``{"key", "size", "sha256"}`` per line)
and ``objects/<key>`` for every object of the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from shared.backup.errors import BackupCorrupt, BackupFailed

FORMAT = "quire-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
OBJECTS_LIST = "objects.jsonl"
OBJECTS_DIR = "objects"
HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup: its path relative to the folder (or an object's key)."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What one backup holds; ``missing_objects`` are keys the dump refers to that were
    gone from the store by the time they were copied (deleted meanwhile)."""

    created_at: str
    database_kind: str
    database_revision: str | None
    database_file: FileEntry
    objects_file: FileEntry
    object_count: int
    object_bytes: int
    store: dict[str, str]
    missing_objects: list[str] = field(default_factory=list)
    format: str = FORMAT
    version: int = FORMAT_VERSION


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` atomically: its presence marks a finished backup."""
    write_atomic(folder / MANIFEST, json.dumps(asdict(manifest), indent=2).encode() + b"\n")


def read_manifest(folder: Path) -> Manifest:
    """The manifest of a finished backup.

    Raises:
        BackupFailed: The folder holds no finished backup, or one of an unknown format.
    """
    path = folder / MANIFEST
    try:
        raw: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BackupFailed(f"{folder} holds no finished backup ({MANIFEST} is missing)") from None
    except ValueError as e:
        raise BackupFailed(f"{path} is not valid JSON: {e}") from e
    if raw.get("format") != FORMAT or raw.get("version") != FORMAT_VERSION:
        raise BackupFailed(f"{path} is not a {FORMAT} version {FORMAT_VERSION} manifest")
    try:
        database_file = FileEntry(**raw.pop("database_file"))
        objects_file = FileEntry(**raw.pop("objects_file"))
        return Manifest(database_file=database_file, objects_file=objects_file, **raw)
    except (KeyError, TypeError) as e:
        raise BackupFailed(f"{path} is incomplete: {e}") from e


def write_objects_list(path: Path, entries: Iterable[FileEntry]) -> None:
    """One JSON line per object, in key order."""
    lines = (json.dumps({"key": e.name, "size": e.size, "sha256": e.sha256}) for e in entries)
    write_atomic(path, "".join(line + "\n" for line in lines).encode())


def read_objects_list(path: Path) -> Iterator[FileEntry]:
    """The objects ``objects.jsonl`` lists."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                yield FileEntry(entry["key"], int(entry["size"]), str(entry["sha256"]))
            except (ValueError, KeyError, TypeError) as e:
                raise BackupCorrupt(f"{path}, line {number}, is not an object entry") from e


def sha256_of(stream: IO[bytes]) -> tuple[int, str]:
    """Size and SHA-256 (hex) of what is left in a stream."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def file_entry(folder: Path, name: str) -> FileEntry:
    """The entry of a file of the backup, hashed now."""
    with (folder / name).open("rb") as stream:
        size, digest = sha256_of(stream)
    return FileEntry(name, size, digest)


def verify_file(path: Path, expected: FileEntry) -> None:
    """Raise ``BackupCorrupt`` unless ``path`` has the entry's size and SHA-256."""
    try:
        with path.open("rb") as stream:
            size, digest = sha256_of(stream)
    except FileNotFoundError:
        raise BackupCorrupt(f"{path} is missing from the backup") from None
    if size != expected.size or not hmac.compare_digest(digest, expected.sha256):
        raise BackupCorrupt(
            f"{path} does not match the manifest: {size} bytes, sha256 {digest[:12]}..., "
            f"expected {expected.size} bytes, sha256 {expected.sha256[:12]}..."
        )


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (temp file, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.partial")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
