"""The libarchive binding: loading, errors raised by the stream, ranged reads, a missing library."""

from __future__ import annotations

import io
import sys

import pytest

from cli.main import main
from shared.storage.range_reader import RangeReader
from tests.hostile_inputs import make_tar, make_zip
from worker import libarchive_reader
from worker.archives import ArchiveLimits, Member, iter_entries
from worker.libarchive_reader import ArchiveDamaged, LibArchive, LibArchiveMissing

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
LIMITS = ArchiveLimits(100, 1 << 30, 1 << 30, 200.0)


class Outage(OSError):
    pass


class FailingAfter(io.BytesIO):
    """A stream whose reads fail once ``limit`` bytes were handed out: a store outage."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self._limit = limit

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.tell() >= self._limit:
            raise Outage("the store went away")
        return super().readinto(buffer)


def test_headers_and_data_in_archive_order() -> None:
    data = make_zip([("a.png", PNG), ("d/", b""), ("d/b.png", PNG[:100])])
    with LibArchive(io.BytesIO(data), "zip") as archive:
        seen = []
        while (header := archive.next_header()) is not None:
            body = b""
            while chunk := archive.read(1000):
                body += chunk
            seen.append((header.name, header.kind, header.size, len(body)))
    assert seen == [
        ("a.png", "file", len(PNG), len(PNG)),
        ("d/", "directory", 0, 0),
        ("d/b.png", "file", 100, 100),
    ]


def test_a_stream_error_passes_through_as_itself() -> None:
    members = [(f"p{i}.png", PNG + bytes(range(256)) * 200) for i in range(20)]
    data = make_tar(members, gz=False)
    entries = iter_entries(FailingAfter(data, 200_000), "tar", LIMITS)
    with pytest.raises(Outage):  # not CorruptArchive: the ingest retries a store outage
        for entry in entries:
            if isinstance(entry, Member):
                entry.stream.read()


def test_only_the_named_format_is_enabled() -> None:
    with pytest.raises(ArchiveDamaged, match="Unrecognized archive format"):
        LibArchive(io.BytesIO(make_tar([("a.png", PNG)], gz=False)), "zip")


def test_zip_is_read_with_ranged_reads() -> None:
    data = make_zip([(f"p{i}.png", PNG * 4) for i in range(50)], method=0)
    raw = RangeReader(lambda s, e: data[s:e], len(data), block_size=4096)
    got = [e.path for e in iter_entries(raw, "zip", LIMITS, start_seq=49)]  # type: ignore[arg-type]
    assert got == ["p49.png"]
    # The directory, then one or two blocks at each local header: no member's data.
    assert raw.bytes_fetched <= (2 * 50 + 4) * 4096 < 0.25 * len(data)


def test_a_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libarchive_reader, "_api", None)
    monkeypatch.setitem(sys.modules, "libarchive", None)  # import fails as if not installed
    with pytest.raises(LibArchiveMissing, match="apt-get install libarchive13"):
        libarchive_reader.library_version()


def test_a_cpu_worker_refuses_to_start_without_libarchive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(libarchive_reader, "_api", None)
    monkeypatch.setitem(sys.modules, "libarchive", None)
    assert main(["worker", "--queues", "cpu"]) == 2
    assert "libarchive13" in capsys.readouterr().err
