"""Both object stores against the same contract; S3 through a real moto server."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.errors import ObjectMissing, StoreUnavailable
from shared.settings import Settings, StoreBackend
from shared.storage import ObjectStore, build_store
from shared.storage.s3 import S3ObjectStore, remaining_size

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return build_store(Settings(store_dir=tmp_path / "objects"))
    env = request.getfixturevalue("s3_env")
    return build_store(
        Settings(
            store_backend=StoreBackend.S3,
            s3_endpoint_url=env["QUIRE_S3_ENDPOINT_URL"],
            s3_bucket=env["QUIRE_S3_BUCKET"],
            s3_access_key_id="test",
            s3_secret_access_key="test",
            s3_prefix="pfx",
            s3_multipart_threshold_mb=5,
        )
    )


def test_put_get_exists_delete(store: ObjectStore) -> None:
    store.put_bytes("tenants/t/jobs/j/source.png", b"abc", "image/png")
    assert store.exists("tenants/t/jobs/j/source.png")
    assert store.get_bytes("tenants/t/jobs/j/source.png") == b"abc"
    store.delete("tenants/t/jobs/j/source.png")
    assert not store.exists("tenants/t/jobs/j/source.png")
    store.delete("tenants/t/jobs/j/source.png")  # deleting twice is fine


def test_missing_object_raises_object_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        store.get_bytes("tenants/t/jobs/nope/source.png")


def test_stream_upload_large_object_goes_multipart(store: ObjectStore) -> None:
    data = bytes(range(256)) * (12 * 1024 * 4)  # 12 MiB: above the 5 MiB multipart threshold
    store.put_stream("tenants/t/jobs/big/source.tif", io.BytesIO(data), "image/tiff")
    assert store.get_bytes("tenants/t/jobs/big/source.tif") == data


def test_small_stream_upload_keeps_its_bytes_and_type(store: ObjectStore) -> None:
    spool = io.BytesIO(b"skip:" + b"\x89PNG" * 100)
    spool.seek(5)  # from the stream's position on, as a managed upload reads it
    store.put_stream("tenants/t/jobs/small/source.png", spool, "image/png")
    assert store.get_bytes("tenants/t/jobs/small/source.png") == b"\x89PNG" * 100
    if isinstance(store, S3ObjectStore):
        head = store.client.head_object(
            Bucket=store.bucket, Key="pfx/tenants/t/jobs/small/source.png"
        )
        assert head["ContentType"] == "image/png"


class OneWayStream(io.RawIOBase):
    """A stream that cannot seek (a pipe, say): its size is unknown."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_unseekable_stream_uploads_whole(store: ObjectStore) -> None:
    assert remaining_size(OneWayStream(b"abc")) is None  # type: ignore[arg-type]
    store.put_stream("tenants/t/jobs/pipe/source.png", OneWayStream(b"abc" * 1000), "image/png")  # type: ignore[arg-type]
    assert store.get_bytes("tenants/t/jobs/pipe/source.png") == b"abc" * 1000


def test_delete_prefix_removes_only_that_prefix(store: ObjectStore) -> None:
    for name in ("a/source.png", "a/pages/00000.png", "b/source.png"):
        store.put_bytes(f"tenants/t/jobs/{name}", b"x", "image/png")
    assert store.delete_prefix("tenants/t/jobs/a") == 2
    assert not store.exists("tenants/t/jobs/a/source.png")
    assert store.exists("tenants/t/jobs/b/source.png")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key", "a//b", "a/./b", "a/b/", "a/b c"])
def test_keys_cannot_escape(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.put_bytes(key, b"x", "text/plain")


def test_check_passes_and_fails(store: ObjectStore) -> None:
    store.check()


def test_s3_check_fails_for_missing_bucket(s3_endpoint: str) -> None:
    store = S3ObjectStore.from_settings(
        Settings(
            store_backend=StoreBackend.S3,
            s3_endpoint_url=s3_endpoint,
            s3_bucket="no-such-bucket",
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    )
    with pytest.raises(StoreUnavailable):
        store.check()


def test_s3_unreachable_endpoint_is_store_unavailable(
    make_settings: Callable[..., Settings],
) -> None:
    store = build_store(
        make_settings(
            store_backend=StoreBackend.S3,
            s3_endpoint_url="http://127.0.0.1:9",
            s3_bucket="b",
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    )
    with pytest.raises(StoreUnavailable):
        store.put_bytes("tenants/t/x.png", b"x", "image/png")
