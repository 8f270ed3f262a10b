"""Object store on any S3 API (AWS, moto, seaweedfs), through boto3."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import ObjectMissing, StoreUnavailable
from shared.storage.base import validate_key
from shared.storage.range_reader import DEFAULT_BLOCK_SIZE, DEFAULT_CACHE_BLOCKS, RangeReader

if TYPE_CHECKING:
    from shared.settings import Settings

MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
DELETE_BATCH = 1000


@contextmanager
def reading(key: str, what: str) -> Iterator[None]:
    """Map S3 errors of a read: a missing object is ``ObjectMissing``, anything else
    ``StoreUnavailable`` (retryable)."""
    try:
        yield
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in MISSING_CODES:
            raise ObjectMissing(f"object {key!r} is missing") from e
        raise StoreUnavailable(f"S3 {what} failed: {e}") from e
    except BotoCoreError as e:
        raise StoreUnavailable(f"S3 {what} failed: {e}") from e


def remaining_size(stream: IO[bytes]) -> int | None:
    """Bytes from the stream's position to its end; None if it cannot seek."""
    try:
        start = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(start)
    except (AttributeError, OSError, ValueError):
        return None
    return end - start


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint, region and credentials."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        # SigV4 for presigned URLs too: S3 servers (moto among them) authenticate a browser's
        # CORS preflight of a SigV2 URL as the OPTIONS request itself, and refuse it.
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            signature_version="s3v4",
        ),
    )


def browser_upload_cors(ui_origin: str) -> dict[str, Any]:
    """The bucket CORS configuration that lets the web UI's pages (served at ``ui_origin``)
    ``PUT`` presigned parts and read each part's ``ETag``, which completing the upload needs."""
    parts = urlsplit(ui_origin)
    origin = f"{parts.scheme}://{parts.netloc}"
    rule = {
        "ID": "quire-ui-presigned-uploads",
        "AllowedOrigins": [origin],
        "AllowedMethods": ["PUT"],
        "AllowedHeaders": ["Content-Type"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }
    return {"CORSRules": [rule]}


def allow_browser_uploads(client: Any, bucket: str, ui_origin: str) -> None:
    """Set ``browser_upload_cors`` on the bucket (it replaces any CORS rules it had)."""
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration=browser_upload_cors(ui_origin))


class S3ObjectStore:
    """Objects live in one bucket under an optional prefix; big uploads go multipart."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", multipart_mb: int = 16):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.transfer = TransferConfig(
            multipart_threshold=multipart_mb * 1024 * 1024,
            multipart_chunksize=multipart_mb * 1024 * 1024,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        client = s3_client(settings)
        return cls(
            client, settings.s3_bucket, settings.s3_prefix, settings.s3_multipart_threshold_mb
        )

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put_stream(self, key: str, stream: IO[bytes], content_type: str) -> None:
        """One ``PutObject`` below the multipart threshold, a managed (multipart) upload
        above it or when the stream's size cannot be known."""
        size = remaining_size(stream)
        try:
            if size is not None and size < self.transfer.multipart_threshold:
                # The managed transfer starts a thread pool for every call: for a small
                # object (most uploads) that costs more than the whole PUT.
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=stream, ContentType=content_type
                )
                return
            self.client.upload_fileobj(
                stream,
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": content_type},
                Config=self.transfer,
            )
        except (BotoCoreError, ClientError) as e:
            raise StoreUnavailable(f"S3 upload failed: {e}") from e

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.put_stream(key, io.BytesIO(data), content_type)

    def get_bytes(self, key: str) -> bytes:
        with reading(key, "read"):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(response["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectMissing:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def open_reader(
        self,
        key: str,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = DEFAULT_CACHE_BLOCKS,
    ) -> BinaryIO:
        """Ranged GETs of aligned blocks (see ``RangeReader``); never the whole object.

        Every GET is pinned to the ETag seen when opening, so an object overwritten while
        it is read fails with ``StoreUnavailable`` instead of mixing two versions.
        """
        head = self._head(key)
        full_key, etag = self._key(key), str(head.get("ETag", ""))

        def fetch(start: int, end: int) -> bytes:
            return self._get_range(key, full_key, etag, start, end)

        raw = RangeReader(
            fetch, int(head["ContentLength"]), block_size=block_size, cache_blocks=cache_blocks
        )
        return io.BufferedReader(raw)

    def _head(self, key: str) -> dict[str, Any]:
        with reading(key, "head"):
            return dict(self.client.head_object(Bucket=self.bucket, Key=self._key(key)))

    def _get_range(self, key: str, full_key: str, etag: str, start: int, end: int) -> bytes:
        extra = {"IfMatch": etag} if etag else {}
        with reading(key, "ranged read"):
            response = self.client.get_object(
                Bucket=self.bucket, Key=full_key, Range=f"bytes={start}-{end - 1}", **extra
            )
            return bytes(response["Body"].read())

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix.rstrip("/")) + "/" if prefix.strip("/") else self.prefix
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:  # S3 lists keys in UTF-8 binary order: sorted
                yield from (o["Key"][len(self.prefix) :] for o in page.get("Contents", []))
        except (BotoCoreError, ClientError) as e:
            raise StoreUnavailable(f"S3 listing failed: {e}") from e

    def delete(self, key: str) -> None:
        self.purge(key)

    def delete_prefix(self, prefix: str) -> int:
        return len(self.purge_prefix(prefix))

    def purge(self, key: str) -> bool:
        return bool(self._remove_listed(self._key(key), exact=True))

    def purge_prefix(self, prefix: str) -> list[str]:
        return self._remove_listed(self._key(prefix.rstrip("/")) + "/", exact=False)

    def _remove_listed(self, full: str, *, exact: bool) -> list[str]:
        """Delete what a listing under ``full`` finds (only ``full`` itself when ``exact``),
        page by page; the keys removed, without the store's prefix, sorted."""
        removed: set[str] = set()
        try:
            for page in self._listing(full):
                targets = [t for t in page if not exact or t["Key"] == full]
                self._delete_objects(targets)
                removed.update(t["Key"][len(self.prefix) :] for t in targets)
        except (BotoCoreError, ClientError) as e:
            raise StoreUnavailable(f"S3 delete failed: {e}") from e
        return sorted(removed)

    def _listing(self, full: str) -> Iterator[list[dict[str, str]]]:
        """Pages of ``{"Key", "VersionId"?}`` under ``full``: every version and delete marker
        once the bucket has had versioning on (a plain delete there only adds a marker)."""
        config = {"PageSize": DELETE_BATCH}
        if not self._versioned():
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, PaginationConfig=config
            ):
                yield [{"Key": o["Key"]} for o in page.get("Contents", [])]
            return
        for page in self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=full, PaginationConfig=config
        ):
            entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            yield [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in entries]

    def _versioned(self) -> bool:
        """Whether versioning is on or suspended (versions may remain); asked on every
        delete, since an operator may turn it on at any time."""
        status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        return status in ("Enabled", "Suspended")

    def _delete_objects(self, targets: list[dict[str, str]]) -> None:
        for start in range(0, len(targets), DELETE_BATCH):
            chunk = targets[start : start + DELETE_BATCH]
            answer = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StoreUnavailable(
                    f"S3 refused to delete {len(answer['Errors'])} objects, first "
                    f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as e:
            raise StoreUnavailable(f"S3 bucket {self.bucket!r} is not reachable: {e}") from e
