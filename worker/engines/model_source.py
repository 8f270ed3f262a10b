"""Where engine models come from: a local path, ``s3://bucket/prefix``, or a hub id.

S3 models are downloaded once into a cache folder (size-checked, then renamed into place
atomically, so a crash never leaves a half model that looks complete). Every model gets an
identity, name plus content checksum, that results record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.engines.builtin_models import builtin_path

MANIFEST = ".quire-model.json"
HASH_CHUNK = 1024 * 1024


class ModelUnavailable(RuntimeError):
    """The configured model cannot be found or fetched; the worker refuses to start."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: ``location`` is a local path, or a hub id when online."""

    location: str
    identity: str

    @property
    def path(self) -> Path:
        return Path(self.location)


def content_digest(path: Path) -> str:
    """SHA-256 over a file, or over every file of a folder (relative names included)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file.name == MANIFEST:
            continue
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def identity_of(name: str, digest: str) -> str:
    return f"{name}@sha256:{digest[:12]}"


def resolve_model(
    source: str,
    cache_dir: Path,
    s3_client_factory: Callable[[], Any] | None = None,
    builtin_dir: Path | None = None,
) -> ResolvedModel:
    """Turn a configured model source into something a loader can open.

    Sources: a model quire ships (by name, see ``builtin_models``), ``s3://bucket/prefix``, a
    local path, or a hub id where the host is online.
    """
    shipped = builtin_path(source, builtin_dir)
    if shipped is not None:
        return ResolvedModel(str(shipped), identity_of(source, content_digest(shipped)))
    if source.startswith("s3://"):
        if s3_client_factory is None:
            raise ModelUnavailable(f"no S3 client to fetch {source}")
        return _from_s3(source, cache_dir, s3_client_factory())
    local = Path(source).expanduser()
    if local.exists():
        return ResolvedModel(str(local), identity_of(local.stem, content_digest(local)))
    if os.environ.get("HF_HUB_OFFLINE") == "1" or source.startswith((".", "/", "~")):
        raise ModelUnavailable(
            f"model {source!r} is not a local path or s3:// URI, and the hub is offline"
        )
    return ResolvedModel(source, source)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket or not prefix:
        raise ModelUnavailable(f"expected s3://bucket/prefix, got {uri!r}")
    return bucket, prefix.rstrip("/")


def _from_s3(uri: str, cache_dir: Path, client: Any) -> ResolvedModel:
    bucket, prefix = _split_s3(uri)
    final = cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:16]
    manifest = final / MANIFEST
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        return ResolvedModel(str(final / meta["entry"]), meta["identity"])
    objects = _list_objects(client, bucket, prefix)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".download-"))
    try:
        entry = _download(client, bucket, prefix, objects, staging)
        target = staging / entry
        identity = identity_of(Path(prefix).stem, content_digest(target))
        (staging / MANIFEST).write_text(
            json.dumps({"source": uri, "entry": entry, "identity": identity})
        )
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if manifest.exists():  # another process won the rename; use its copy
            return _from_s3(uri, cache_dir, client)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ResolvedModel(str(final / entry), identity)


def _list_objects(client: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Keys under ``prefix`` (a single object, or a folder) with their sizes."""
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key == prefix or key.startswith(prefix + "/"):
                found[key] = int(item["Size"])
    if not found:
        raise ModelUnavailable(f"nothing stored at s3://{bucket}/{prefix}")
    return found


def _download(client: Any, bucket: str, prefix: str, objects: dict[str, int], staging: Path) -> str:
    """Fetch every object into ``staging``; returns the entry to load (file or folder)."""
    single = list(objects) == [prefix]
    entry = Path(prefix).name if single else "model"
    for key, size in objects.items():
        relative = Path(prefix).name if single else str(Path("model") / key[len(prefix) + 1 :])
        if ".." in Path(relative).parts:
            raise ModelUnavailable(f"refusing key that leaves the model folder: {key!r}")
        destination = staging / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(destination))
        if destination.stat().st_size != size:
            raise ModelUnavailable(
                f"s3://{bucket}/{key}: got {destination.stat().st_size} bytes, expected {size}"
            )
    return entry
