"""size() and open_reader() on both stores; zip members read over ranged S3 GETs (moto)."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest

from shared.errors import ObjectMissing, StoreUnavailable
from shared.settings import Settings, StoreBackend
from shared.storage import ObjectStore, build_store
from shared.storage.range_reader import RangeReader
from shared.storage.s3 import S3ObjectStore
from worker.archives import ArchiveLimits, Member, MemberLimitExceeded, iter_entries

pytestmark = pytest.mark.integration

KIB = 1024
MIB = 1024 * KIB
LIMITS = ArchiveLimits(1000, 10 * MIB, 100 * MIB, 200.0)
PNG = b"\x89PNG\r\n\x1a\n"
DATA = random.Random(3).randbytes(3 * MIB + 123)


def s3_store(s3_env: dict[str, str]) -> S3ObjectStore:
    return S3ObjectStore.from_settings(
        Settings(
            store_backend=StoreBackend.S3,
            s3_endpoint_url=s3_env["QUIRE_S3_ENDPOINT_URL"],
            s3_bucket=s3_env["QUIRE_S3_BUCKET"],
            s3_access_key_id="test",
            s3_secret_access_key="test",
            s3_prefix="pfx",
            s3_multipart_threshold_mb=5,
        )
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return build_store(Settings(store_dir=tmp_path / "objects"))
    return s3_store(request.getfixturevalue("s3_env"))


@pytest.fixture
def s3(s3_env: dict[str, str]) -> S3ObjectStore:
    return s3_store(s3_env)


def archive_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fetch_counter(reader: Any) -> RangeReader:
    raw = reader.raw
    assert isinstance(raw, RangeReader)
    return raw


# --- both stores ----------------------------------------------------------------------------


def test_size(store: ObjectStore) -> None:
    store.put_bytes("tenants/t/uploads/u/data", DATA, "application/zip")
    store.put_bytes("tenants/t/uploads/e/data", b"", "application/zip")
    assert store.size("tenants/t/uploads/u/data") == len(DATA)
    assert store.size("tenants/t/uploads/e/data") == 0


def test_missing_object(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        store.size("tenants/t/uploads/nope/data")
    with pytest.raises(ObjectMissing):
        store.open_reader("tenants/t/uploads/nope/data")


def test_reader_seeks_and_reads(store: ObjectStore) -> None:
    store.put_bytes("tenants/t/uploads/u/data", DATA, "application/zip")
    with store.open_reader("tenants/t/uploads/u/data") as reader:
        assert reader.seekable() and reader.readable()
        assert reader.read(10) == DATA[:10]
        assert reader.seek(-100, io.SEEK_END) == len(DATA) - 100
        assert reader.read() == DATA[-100:]
        reader.seek(MIB - 5)
        assert reader.read(10) == DATA[MIB - 5 : MIB + 5]
        assert reader.tell() == MIB + 5


def test_zip_members_copied_into_the_store(store: ObjectStore) -> None:
    members = {f"box/p{i}.png": PNG + random.Random(i).randbytes(50 * KIB) for i in range(10)}
    store.put_bytes("tenants/t/uploads/u/data", archive_of(members), "application/zip")
    with store.open_reader("tenants/t/uploads/u/data") as reader:
        for entry in iter_entries(reader, "zip", LIMITS):
            assert isinstance(entry, Member)
            store.put_stream(f"tenants/t/items/{entry.seq:05d}", entry.stream, entry.kind.mime)
    for i, data in enumerate(members.values()):
        assert store.get_bytes(f"tenants/t/items/{i:05d}") == data


def test_member_found_corrupt_while_copying_is_not_stored(store: ObjectStore) -> None:
    content = PNG + random.Random(1).randbytes(6 * MIB)  # above the 5 MiB multipart threshold
    data = bytearray(archive_of({"bad.png": content}, zipfile.ZIP_STORED))
    data[data.find(content[:64]) + 5 * MIB + 100] ^= 0xFF  # found by the CRC, at the end
    store.put_bytes("tenants/t/uploads/u/data", bytes(data), "application/zip")
    with store.open_reader("tenants/t/uploads/u/data") as reader:
        entries = iter_entries(reader, "zip", LIMITS)
        entry = next(entries)
        assert isinstance(entry, Member)
        with pytest.raises(MemberLimitExceeded) as raised:
            store.put_stream("tenants/t/items/00000", entry.stream, entry.kind.mime)
    assert raised.value.code == "corrupt_member"
    assert not store.exists("tenants/t/items/00000")


# --- S3: ranged reads -----------------------------------------------------------------------


def test_s3_reader_reads_only_the_blocks_it_needs(s3: S3ObjectStore) -> None:
    s3.put_bytes("tenants/t/uploads/u/data", DATA, "application/zip")
    with s3.open_reader("tenants/t/uploads/u/data") as reader:
        reader.seek(-100, io.SEEK_END)
        assert reader.read() == DATA[-100:]
        raw = fetch_counter(reader)
        assert raw.fetches == 1
        assert raw.bytes_fetched == len(DATA) - 3 * MIB  # the last, partial 1 MiB block


def test_s3_zipfile_reads_members_with_bounded_fetches(s3: S3ObjectStore) -> None:
    members = {
        f"box{i // 10}/p{i}.png": PNG + random.Random(i).randbytes(40 * KIB) for i in range(40)
    }
    archive = archive_of(members)
    s3.put_bytes("tenants/t/uploads/u/data", archive, "application/zip")
    with s3.open_reader("tenants/t/uploads/u/data", block_size=256 * KIB) as reader:
        with zipfile.ZipFile(reader) as zipped:
            assert {n: zipped.read(n) for n in zipped.namelist()} == members
        raw = fetch_counter(reader)
    blocks = -(-len(archive) // (256 * KIB))
    assert raw.fetches <= blocks + 2  # each block about once, plus the end revisited
    assert raw.bytes_fetched <= len(archive) + 2 * 256 * KIB


def test_s3_iter_entries_with_bounded_fetches(s3: S3ObjectStore) -> None:
    members = {f"p{i:03d}.png": PNG + random.Random(i).randbytes(30 * KIB) for i in range(60)}
    archive = archive_of(members)
    s3.put_bytes("tenants/t/uploads/u/data", archive, "application/zip")
    with s3.open_reader("tenants/t/uploads/u/data", block_size=256 * KIB) as reader:
        got = {}
        for entry in iter_entries(reader, "zip", LIMITS):
            assert isinstance(entry, Member)
            got[entry.path] = entry.stream.read()
        raw = fetch_counter(reader)
    assert got == members
    assert raw.bytes_fetched <= 1.25 * len(archive)


def test_s3_object_replaced_while_read_is_store_unavailable(s3: S3ObjectStore) -> None:
    s3.put_bytes("tenants/t/uploads/u/data", DATA, "application/zip")
    with s3.open_reader("tenants/t/uploads/u/data") as reader:
        assert reader.read(10) == DATA[:10]
        s3.put_bytes("tenants/t/uploads/u/data", DATA[::-1], "application/zip")
        reader.seek(2 * MIB)
        with pytest.raises(StoreUnavailable):
            reader.read(10)


def test_s3_object_deleted_while_read_is_object_missing(s3: S3ObjectStore) -> None:
    s3.put_bytes("tenants/t/uploads/u/data", DATA, "application/zip")
    with s3.open_reader("tenants/t/uploads/u/data") as reader:
        s3.delete("tenants/t/uploads/u/data")
        with pytest.raises(ObjectMissing):
            reader.read(10)
