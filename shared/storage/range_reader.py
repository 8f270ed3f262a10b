"""A seekable, read-only file object over ranged reads (S3 GetObject with a Range header).

Zip readers jump to the end of an archive for its central directory and then back to each
member; this serves those reads from fixed-size blocks fetched on demand, keeping only the
few most recently used blocks, so memory stays bounded whatever the object's size.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.errors import StoreUnavailable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

DEFAULT_BLOCK_SIZE = 1024 * 1024
DEFAULT_CACHE_BLOCKS = 4

Fetch = Callable[[int, int], bytes]
"""Returns the object's bytes ``[start, end)``; ``end`` never passes the object's size."""


class RangeReader(io.RawIOBase):
    """Reads an object of known size through ``fetch``, one aligned block at a time.

    Memory use is at most ``block_size * cache_blocks`` bytes of cached data. ``fetches``
    and ``bytes_fetched`` count the calls to ``fetch`` and the bytes they returned. Wrap it
    in ``io.BufferedReader`` for line reads or many tiny reads.
    """

    def __init__(
        self,
        fetch: Fetch,
        size: int,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
    ) -> None:
        if size < 0 or block_size < 1 or cache_blocks < 1:
            raise ValueError("size must be >= 0, block_size and cache_blocks >= 1")
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._block_size = block_size
        self._cache_blocks = cache_blocks
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.fetches = 0
        self.bytes_fetched = 0

    @property
    def size(self) -> int:
        """The object's size in bytes."""
        return self._size

    def readable(self) -> bool:
        self._check_open()
        return True

    def seekable(self) -> bool:
        self._check_open()
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        self._check_open()
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        if whence not in bases:
            raise ValueError(f"invalid whence: {whence}")
        position = bases[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position  # past the end is allowed; reads there return nothing
        return position

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill ``buffer`` from the current position; short only at the end of the object."""
        self._check_open()
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            index, offset = divmod(self._pos, self._block_size)
            block = self._block(index)
            count = min(len(view) - done, len(block) - offset)
            view[done : done + count] = block[offset : offset + count]
            done += count
            self._pos += count
        return done

    def readall(self) -> bytes:
        """The rest of the object (the caller chose to hold it whole)."""
        return self.read(max(self._size - self._pos, 0)) or b""

    def close(self) -> None:
        self._cache.clear()
        super().close()

    def _block(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        start = index * self._block_size
        end = min(start + self._block_size, self._size)
        data = self._fetch(start, end)
        self.fetches += 1
        self.bytes_fetched += len(data)
        if len(data) != end - start:
            # The object changed or the store misbehaved: the bytes cannot be trusted.
            raise StoreUnavailable(
                f"ranged read of bytes {start}-{end - 1} returned {len(data)} bytes"
            )
        self._cache[index] = data
        if len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return data

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")
