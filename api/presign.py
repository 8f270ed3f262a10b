"""Presigned uploads: large files go from the client straight to the object store.

On S3 the client gets presigned ``PUT`` URLs (one object, or one per part of a multipart
upload). The local store has no URL of its own, so the API signs URLs to its own
``PUT /v1/uploads/{id}/parts/{n}`` route with the server secret instead; the client cannot
tell the two apart.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from shared.db.models import Upload
from shared.errors import StoreUnavailable, UploadIncomplete
from shared.objectkeys import upload_part_key
from shared.schemas import CompletedPartIn, UploadedPartOut, UploadPartOut
from shared.settings import Settings
from shared.storage import ObjectStore

MIB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts of one multipart upload


@dataclass(frozen=True)
class PartPlan:
    """How a file of ``size`` bytes is cut into parts."""

    size: int
    part_size: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.size / self.part_size))

    def part_length(self, number: int) -> int:
        """Bytes in part ``number`` (1-based)."""
        return min(self.part_size, self.size - (number - 1) * self.part_size)


def plan_parts(size: int, preferred_part_bytes: int) -> PartPlan:
    """Parts of the preferred size, larger (whole MiB) when the file would need too many."""
    needed = math.ceil(size / MAX_PARTS)
    part = max(preferred_part_bytes, math.ceil(needed / MIB) * MIB)
    return PartPlan(size, part)


class Presigner(Protocol):
    """Starts, describes and completes presigned uploads for one store."""

    def start(self, upload: Upload) -> str | None:
        """Prepare the upload; returns the store's multipart id if it has one."""
        ...

    def part_urls(self, upload: Upload, expires_in: int) -> list[UploadPartOut]:
        """Fresh URLs for every part."""
        ...

    def uploaded(self, upload: Upload) -> list[UploadedPartOut]:
        """Parts already stored."""
        ...

    def complete(self, upload: Upload, parts: list[CompletedPartIn]) -> None:
        """Join the parts into the upload's object; ``UploadIncomplete`` if any is missing."""
        ...


def check_parts(plan: PartPlan, given: list[CompletedPartIn]) -> list[CompletedPartIn]:
    """The client's parts in order; every part from 1 to ``plan.count`` exactly once."""
    ordered = sorted(given, key=lambda p: p.number)
    if [p.number for p in ordered] != list(range(1, plan.count + 1)):
        raise UploadIncomplete(f"send the ETags of parts 1 to {plan.count}, each once")
    return ordered


def _plan(upload: Upload) -> PartPlan:
    return PartPlan(upload.size_bytes, upload.part_size)


def _headers(upload: Upload) -> dict[str, str]:
    # Some S3 servers store an empty body for a presigned PUT without a Content-Type.
    return {"Content-Type": upload.content_type}


class S3Presigner:
    """Presigned ``PutObject`` (one part) or ``UploadPart`` URLs on an S3 bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def _call(self, method: str, **params: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NoSuchKey"):
                raise UploadIncomplete(f"the store has no such upload: {e}") from e
            raise StoreUnavailable(f"S3 {method} failed: {e}") from e
        except BotoCoreError as e:
            raise StoreUnavailable(f"S3 {method} failed: {e}") from e

    def start(self, upload: Upload) -> str | None:
        if _plan(upload).count == 1:
            return None
        answer = self._call(
            "create_multipart_upload",
            Key=self.prefix + upload.key,
            ContentType=upload.content_type,
        )
        return str(answer["UploadId"])

    def part_urls(self, upload: Upload, expires_in: int) -> list[UploadPartOut]:
        plan = _plan(upload)
        return [
            UploadPartOut(
                number=n,
                url=self._url(upload, n, expires_in),
                size=plan.part_length(n),
                headers=_headers(upload),
            )
            for n in range(1, plan.count + 1)
        ]

    def _url(self, upload: Upload, number: int, expires_in: int) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + upload.key}
        if upload.multipart_id is None:
            params["ContentType"] = upload.content_type
            return str(self.client.generate_presigned_url("put_object", params, expires_in))
        params.update(UploadId=upload.multipart_id, PartNumber=number)
        return str(self.client.generate_presigned_url("upload_part", params, expires_in))

    def uploaded(self, upload: Upload) -> list[UploadedPartOut]:
        key = self.prefix + upload.key
        if upload.multipart_id is None:
            try:
                head = self._call("head_object", Key=key)
            except UploadIncomplete:
                return []
            return [UploadedPartOut(number=1, etag=head["ETag"], size=head["ContentLength"])]
        answer = self._call("list_parts", Key=key, UploadId=upload.multipart_id, MaxParts=1000)
        parts = list(answer.get("Parts", []))
        while answer.get("IsTruncated"):
            answer = self._call(
                "list_parts",
                Key=key,
                UploadId=upload.multipart_id,
                MaxParts=1000,
                PartNumberMarker=answer["NextPartNumberMarker"],
            )
            parts.extend(answer.get("Parts", []))
        return [
            UploadedPartOut(number=p["PartNumber"], etag=p["ETag"], size=p["Size"]) for p in parts
        ]

    def complete(self, upload: Upload, parts: list[CompletedPartIn]) -> None:
        ordered = check_parts(_plan(upload), parts)
        key = self.prefix + upload.key
        if upload.multipart_id is not None:
            self._call(
                "complete_multipart_upload",
                Key=key,
                UploadId=upload.multipart_id,
                MultipartUpload={
                    "Parts": [{"ETag": p.etag, "PartNumber": p.number} for p in ordered]
                },
            )
        stored = self._call("head_object", Key=key)["ContentLength"]
        if stored != upload.size_bytes:
            self._call("delete_object", Key=key)
            raise UploadIncomplete(
                f"the store holds {stored} bytes; the upload announced {upload.size_bytes}"
            )


def part_signature(secret: str, upload_id: str, number: int, expires: int) -> str:
    """HMAC that authorizes one ``PUT`` of one part until ``expires`` (Unix time)."""
    message = f"{upload_id}:{number}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def local_etag(number: int, size: int) -> str:
    """The local store's ETag of a part: enough to tell parts apart, cheap to recompute."""
    return f'"local-{number}-{size}"'


class LocalPresigner:
    """URLs to the API's own part route, for the local object store."""

    def __init__(self, store: ObjectStore, base_url: str, secret: str) -> None:
        self.store, self.base_url, self.secret = store, base_url.rstrip("/"), secret

    def start(self, upload: Upload) -> str | None:
        return None

    def part_urls(self, upload: Upload, expires_in: int) -> list[UploadPartOut]:
        plan = _plan(upload)
        expires = int(time.time()) + expires_in
        return [
            UploadPartOut(
                number=n,
                url=(
                    f"{self.base_url}/v1/uploads/{upload.id}/parts/{n}?expires={expires}"
                    f"&signature={part_signature(self.secret, upload.id, n, expires)}"
                ),
                size=plan.part_length(n),
                headers=_headers(upload),
            )
            for n in range(1, plan.count + 1)
        ]

    def uploaded(self, upload: Upload) -> list[UploadedPartOut]:
        found = []
        for n in range(1, _plan(upload).count + 1):
            key = upload_part_key(upload.tenant_id, upload.id, n)
            if self.store.exists(key):
                size = self.store.size(key)
                found.append(UploadedPartOut(number=n, etag=local_etag(n, size), size=size))
        return found

    def complete(self, upload: Upload, parts: list[CompletedPartIn]) -> None:
        plan = _plan(upload)
        ordered = check_parts(plan, parts)
        stored = {p.number: p for p in self.uploaded(upload)}
        for part in ordered:
            have = stored.get(part.number)
            if have is None or have.size != plan.part_length(part.number):
                raise UploadIncomplete(f"part {part.number} is missing or has the wrong size")
            if have.etag != part.etag:
                raise UploadIncomplete(f"part {part.number}: ETag {part.etag} does not match")
        keys = [upload_part_key(upload.tenant_id, upload.id, p.number) for p in ordered]
        with _Concatenated(self.store, keys) as joined:
            self.store.put_stream(upload.key, joined, upload.content_type)
        for key in keys:
            self.store.delete(key)


class _Concatenated:
    """The parts read one after another as one stream, one part open at a time."""

    def __init__(self, store: ObjectStore, keys: list[str]) -> None:
        self._chunks = self._read(store, keys)
        self._buffer = b""

    @staticmethod
    def _read(store: ObjectStore, keys: list[str]) -> Iterator[bytes]:
        for key in keys:
            with store.open_reader(key) as part:
                while chunk := part.read(MIB):
                    yield chunk

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def __enter__(self) -> IO[bytes]:
        return self  # type: ignore[return-value]

    def __exit__(self, *_exc: object) -> None:
        self._chunks.close()  # type: ignore[attr-defined]


def presigned_origin(presigner: Presigner) -> str | None:
    """The origin (``scheme://host[:port]``) of an S3 presigner's URLs, which a browser
    must be allowed to reach; None for the API's own part route."""
    if not isinstance(presigner, S3Presigner):
        return None
    try:
        # Signed locally (no request): the same host and addressing style as real part URLs.
        url = presigner.client.generate_presigned_url(
            "put_object", {"Bucket": presigner.bucket, "Key": presigner.prefix + "probe"}, 60
        )
    except BotoCoreError:  # no credentials yet: the configured endpoint is the best guess
        url = presigner.client.meta.endpoint_url
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}"


def build_presigner(settings: Settings, store: ObjectStore) -> Presigner:
    """The presigner that matches the store the settings chose."""
    from shared.storage.s3 import S3ObjectStore

    if isinstance(store, S3ObjectStore):
        return S3Presigner(store.client, store.bucket, store.prefix)
    return LocalPresigner(store, settings.public_base_url, settings.secret_key)
