"""The object store half of a backup: every object copied to ``objects/<key>`` with its size
and SHA-256, and copied back into an empty store after every checksum is verified."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from shared.backup.errors import RestoreRefused
from shared.backup.manifest import HASH_CHUNK, FileEntry, verify_file
from shared.backup.progress import Progress, Report
from shared.errors import ObjectMissing
from shared.storage.base import ObjectStore, validate_key

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class _HashingWriter:
    """Writes to a file while counting and hashing what passes."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)


def object_path(folder: Path, key: str) -> Path:
    """Where an object's copy lives in the backup (keys cannot climb out: validated)."""
    return folder / validate_key(key)


def copy_out(
    store: ObjectStore, folder: Path, keys: Sequence[str], jobs: int, report: Report
) -> list[FileEntry]:
    """Copy every key's object into ``folder``; keys gone meanwhile are left out."""
    progress = Progress(report, "objects copied", len(keys))
    entries: list[FileEntry] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for entry in pool.map(lambda key: _copy_one_out(store, folder, key), keys):
            if entry is not None:
                entries.append(entry)
                progress.advance(entry.size)
    progress.finish()
    return entries


def _copy_one_out(store: ObjectStore, folder: Path, key: str) -> FileEntry | None:
    path = object_path(folder, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with store.open_reader(key) as reader, partial.open("wb") as out:
            writer = _HashingWriter(out)
            shutil.copyfileobj(reader, writer, HASH_CHUNK)
    except ObjectMissing:
        partial.unlink(missing_ok=True)
        return None  # deleted since it was listed
    os.replace(partial, path)
    return FileEntry(key, writer.size, writer.digest.hexdigest())


def verify_copies(folder: Path, entries: Sequence[FileEntry], report: Report) -> None:
    """Raise ``BackupCorrupt`` unless every object's copy matches its size and SHA-256."""
    progress = Progress(report, "objects verified", len(entries))
    for entry in entries:
        verify_file(object_path(folder, entry.name), entry)
        progress.advance(entry.size)
    progress.finish()


def check_empty(store: ObjectStore, *, force: bool) -> None:
    """Refuse a store that holds objects, unless ``force``."""
    first = next(iter(store.list_keys()), None)
    if first is not None and not force:
        raise RestoreRefused(
            f"the target object store is not empty (it holds {first!r}, among others); "
            "restore into an empty store, or pass --force to overwrite the backup's keys"
        )


def copy_in(
    store: ObjectStore, folder: Path, entries: Sequence[FileEntry], jobs: int, report: Report
) -> None:
    """Put every object's copy back under its key (content type guessed from its name)."""
    progress = Progress(report, "objects restored", len(entries))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for size in pool.map(lambda entry: _copy_one_in(store, folder, entry), entries):
            progress.advance(size)
    progress.finish()


def _copy_one_in(store: ObjectStore, folder: Path, entry: FileEntry) -> int:
    content_type = mimetypes.guess_type(entry.name)[0] or DEFAULT_CONTENT_TYPE
    with object_path(folder, entry.name).open("rb") as stream:
        store.put_stream(entry.name, stream, content_type)
    return entry.size
