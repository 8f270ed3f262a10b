"""The object store interface every implementation satisfies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, BinaryIO, Protocol

_KEY_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def validate_key(key: str) -> str:
    """Refuse keys that could escape their prefix or address a folder.

    Keys are built by quire from ids and fixed names, never from user input; this is the
    last line of defence if that ever changes.
    """
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or not _KEY_PART.match(p) for p in parts):
        raise ValueError(f"invalid object key: {key!r}")
    return key


class ObjectStore(Protocol):
    """Where uploads and page images live; keys are ``/``-separated relative paths."""

    def put_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        """Store a readable binary stream under ``key`` without reading it whole."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read the object; raise ``ObjectMissing`` if it does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; raise ``ObjectMissing`` if it does not exist."""
        ...

    def open_reader(self, key: str) -> BinaryIO:
        """A seekable, read-only file over the object, read on demand, never held whole.

        Raise ``ObjectMissing`` if it does not exist. Close it when done.
        """
        ...

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key stored under ``prefix`` (all keys when empty), sorted; only current
        objects, never a version or delete marker of a versioned bucket."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; returns how many were removed."""
        ...

    def purge(self, key: str) -> bool:
        """Remove the object and, in a versioned bucket, every version and delete marker of
        it; returns whether anything was stored under ``key``."""
        ...

    def purge_prefix(self, prefix: str) -> list[str]:
        """Remove every object under ``prefix``, every version of each where the store keeps
        versions; returns the keys that were removed."""
        ...

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers (readiness probe)."""
        ...
