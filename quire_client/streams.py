"""Request bodies streamed from disk, never held whole in memory, with progress reporting.

A body is a factory of byte iterators, so a retried request starts again from the first
byte; the bytes the failed attempt reported are taken back from the progress count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

CHUNK_BYTES = 1024 * 1024
ProgressHook = Callable[[int], None]


def file_chunks(
    path: Path, offset: int = 0, length: int | None = None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes]:
    """The bytes ``[offset, offset + length)`` of a file (to its end if ``length`` is None)."""
    with path.open("rb") as stream:
        stream.seek(offset)
        left = length
        while left is None or left > 0:
            chunk = stream.read(chunk_bytes if left is None else min(chunk_bytes, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


class CountedBody:
    """A replayable body that reports each chunk to ``on_bytes`` as it is sent.

    Calling it starts a fresh pass; a new pass first reports minus what the previous pass
    reported, so a progress bar never counts a retried body twice.
    """

    def __init__(
        self, chunks: Callable[[], Iterator[bytes]], on_bytes: ProgressHook | None = None
    ) -> None:
        self._chunks = chunks
        self._on_bytes = on_bytes
        self.sent = 0

    def __call__(self) -> Iterator[bytes]:
        self.rewind()
        return self._pass()

    def rewind(self) -> None:
        """Take back the bytes reported so far (the attempt that sent them failed)."""
        if self.sent and self._on_bytes is not None:
            self._on_bytes(-self.sent)
        self.sent = 0

    def _pass(self) -> Iterator[bytes]:
        for chunk in self._chunks():
            yield chunk
            self.sent += len(chunk)
            if self._on_bytes is not None:
                self._on_bytes(len(chunk))
