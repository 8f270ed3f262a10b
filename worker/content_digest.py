"""SHA-256 of a stream taken while it is copied elsewhere, so its bytes are read only once."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BUFFER_BYTES = 64 * 1024


class DigestingReader(io.RawIOBase):
    """Reads ``source`` and hashes every byte handed out; not seekable, so a store copies it
    front to back (and S3 makes it a multipart upload when it cannot tell its size)."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        view[: len(data)] = data
        self._digest.update(data)
        return len(data)

    def hexdigest(self) -> str:
        """The SHA-256 (hex) of the bytes read so far: the whole stream once it is read."""
        return self._digest.hexdigest()


def digesting(source: BinaryIO) -> tuple[BinaryIO, DigestingReader]:
    """A buffered stream over ``source`` to copy from, and the reader holding its digest."""
    reader = DigestingReader(source)
    return io.BufferedReader(reader, BUFFER_BYTES), reader
