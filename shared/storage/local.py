"""Object store in a local directory, for single-machine runs."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from shared.errors import ObjectMissing, StoreUnavailable
from shared.storage.base import validate_key

COPY_CHUNK = 1024 * 1024
TEMP_PREFIX = ".upload-"


class LocalObjectStore:
    """Objects are files under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, COPY_CHUNK)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.put_stream(key, io.BytesIO(data), content_type)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise ObjectMissing(f"object {key!r} is missing") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            info = self._path(key).stat()
        except FileNotFoundError as e:
            raise ObjectMissing(f"object {key!r} is missing") from e
        if not stat.S_ISREG(info.st_mode):
            raise ObjectMissing(f"object {key!r} is missing")
        return info.st_size

    def open_reader(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError) as e:
            raise ObjectMissing(f"object {key!r} is missing") from e

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        files = (p for p in folder.rglob("*") if p.is_file())
        # A temp file is a write still in progress, not an object.
        keys = (p.relative_to(self.root).as_posix() for p in files)
        yield from sorted(k for k in keys if not k.rsplit("/", 1)[-1].startswith(TEMP_PREFIX))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        return len(self.purge_prefix(prefix))

    def purge(self, key: str) -> bool:
        path = self._path(key)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    def purge_prefix(self, prefix: str) -> list[str]:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        keys = sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        return keys

    def check(self) -> None:
        if not (self.root.is_dir() and os.access(self.root, os.W_OK)):
            raise StoreUnavailable(f"store directory {self.root} is not writable")
