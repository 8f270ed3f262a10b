"""RangeReader: a seekable file over block-aligned ranged reads with a small LRU cache."""

from __future__ import annotations

import io
import random
import tracemalloc
import zipfile

import pytest

from shared.errors import StoreUnavailable
from shared.storage.range_reader import RangeReader

DATA = random.Random(7).randbytes(10_000)


class Recorder:
    """A fetch function over bytes that records each requested range."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> bytes:
        self.calls.append((start, end))
        return self.data[start:end]


def reader(data: bytes = DATA, block_size: int = 1000, cache_blocks: int = 2) -> RangeReader:
    return RangeReader(Recorder(data), len(data), block_size=block_size, cache_blocks=cache_blocks)


@pytest.mark.parametrize(
    ("offset", "whence", "count", "expected"),
    [
        (0, io.SEEK_SET, 10, DATA[:10]),
        (995, io.SEEK_SET, 10, DATA[995:1005]),  # across a block boundary
        (1500, io.SEEK_SET, 3500, DATA[1500:5000]),  # across several blocks
        (-7, io.SEEK_END, 100, DATA[-7:]),  # short at the end
        (9_999, io.SEEK_SET, 5, DATA[9_999:]),
        (10_000, io.SEEK_SET, 5, b""),
        (50_000, io.SEEK_SET, 5, b""),  # past the end reads nothing
        (0, io.SEEK_END, 1, b""),
    ],
)
def test_seek_then_read(offset: int, whence: int, count: int, expected: bytes) -> None:
    r = reader()
    r.seek(offset, whence)
    assert r.read(count) == expected


def test_seek_cur_and_tell() -> None:
    r = reader()
    r.seek(100)
    r.read(50)
    assert r.tell() == 150
    assert r.seek(-20, io.SEEK_CUR) == 130
    assert r.read(5) == DATA[130:135]


@pytest.mark.parametrize(("offset", "whence"), [(-1, io.SEEK_SET), (-10_001, io.SEEK_END), (0, 7)])
def test_bad_seeks_raise(offset: int, whence: int) -> None:
    with pytest.raises(ValueError):
        reader().seek(offset, whence)


def test_random_access_matches_bytes() -> None:
    r = reader(block_size=333, cache_blocks=3)
    rng = random.Random(1)
    for _ in range(300):
        start, count = rng.randrange(len(DATA) + 50), rng.randrange(2_000)
        r.seek(start)
        assert r.read(count) == DATA[start : start + count]


def test_fetches_are_block_aligned_and_inside_the_object() -> None:
    fetch = Recorder(DATA)
    r = RangeReader(fetch, len(DATA), block_size=1000)
    r.seek(2_500)
    r.read(3_000)
    r.seek(9_900)
    r.read()
    assert fetch.calls == [(2000, 3000), (3000, 4000), (4000, 5000), (5000, 6000), (9000, 10_000)]
    assert r.fetches == 5
    assert r.bytes_fetched == 5_000


@pytest.mark.parametrize(
    ("blocks_read", "cache_blocks", "fetches"),
    [
        ([0, 0, 0], 1, 1),
        ([0, 1, 0], 2, 2),  # zip readers: end of file, then back
        ([0, 1, 2, 0], 2, 4),  # block 0 was the least recently used, evicted
        ([0, 1, 0, 2, 0], 2, 3),  # block 0 was used again, so block 1 goes
        ([5, 6, 7, 8, 5, 6, 7, 8], 4, 4),
    ],
)
def test_lru_cache(blocks_read: list[int], cache_blocks: int, fetches: int) -> None:
    r = reader(block_size=1000, cache_blocks=cache_blocks)
    for block in blocks_read:
        r.seek(block * 1000 + 10)
        assert r.read(5) == DATA[block * 1000 + 10 : block * 1000 + 15]
    assert r.fetches == fetches


def test_readinto_and_readall() -> None:
    r = reader()
    buffer = bytearray(1_500)
    r.seek(600)
    assert r.readinto(buffer) == 1_500
    assert bytes(buffer) == DATA[600:2100]
    assert r.readall() == DATA[2100:]


def test_empty_object_never_fetches() -> None:
    r = reader(b"")
    assert r.read(10) == b""
    assert r.read() == b""
    assert r.fetches == 0


def test_short_fetch_is_store_unavailable() -> None:
    r = RangeReader(lambda start, end: DATA[start : end - 1], len(DATA), block_size=1000)
    with pytest.raises(StoreUnavailable, match="returned 999 bytes"):
        r.read(10)


def test_closed_reader_refuses_io() -> None:
    r = reader()
    r.close()
    for call in (r.tell, lambda: r.read(1), lambda: r.seek(0)):
        with pytest.raises(ValueError, match="closed"):
            call()


@pytest.mark.parametrize(
    ("size", "block_size", "cache_blocks"), [(-1, 10, 1), (10, 0, 1), (10, 10, 0)]
)
def test_invalid_arguments(size: int, block_size: int, cache_blocks: int) -> None:
    with pytest.raises(ValueError):
        RangeReader(Recorder(b""), size, block_size=block_size, cache_blocks=cache_blocks)


def test_zipfile_reads_through_a_buffered_range_reader() -> None:
    members = {f"p{i}.bin": bytes([i]) * (3_000 + i) for i in range(20)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = RangeReader(Recorder(buffer.getvalue()), len(buffer.getvalue()), block_size=512)
    with zipfile.ZipFile(io.BufferedReader(raw)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == members
    assert raw.bytes_fetched <= 2 * len(buffer.getvalue())


def test_memory_stays_bounded_by_the_cache_for_a_large_object() -> None:
    size = 64 * 1024 * 1024
    r = RangeReader(lambda start, end: bytes(end - start), size, block_size=256 * 1024)
    tracemalloc.start()
    try:
        total = 0
        while chunk := r.read(64 * 1024):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert r.fetches == 256
    assert peak < 3 * 1024 * 1024  # 4 cached blocks of 256 KiB plus one chunk
