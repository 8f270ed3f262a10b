"""Model sources: local files and folders, and s3:// prefixes fetched once from moto."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from worker.engines.model_source import ModelUnavailable, resolve_model

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(s3_client: Any) -> Any:
    return s3_client


@pytest.fixture
def factory(s3: Any) -> Callable[[], Any]:
    return lambda: s3


def test_local_file_and_folder_identity_follows_content(tmp_path: Path) -> None:
    weights = tmp_path / "detector.pt"
    weights.write_bytes(b"weights v1")
    first = resolve_model(str(weights), tmp_path / "cache")
    assert first.path == weights
    assert first.identity.startswith("detector@sha256:")
    weights.write_bytes(b"weights v2")
    assert resolve_model(str(weights), tmp_path / "cache").identity != first.identity

    folder = tmp_path / "recognizer"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_model(str(folder), tmp_path / "cache").identity.startswith("recognizer@")


def test_s3_folder_is_downloaded_once(
    tmp_path: Path, s3: Any, s3_bucket: str, factory: Callable[[], Any]
) -> None:
    s3.put_object(Bucket=s3_bucket, Key="models/rec/config.json", Body=b"{}")
    s3.put_object(Bucket=s3_bucket, Key="models/rec/sub/weights.bin", Body=b"x" * 1000)
    s3.put_object(Bucket=s3_bucket, Key="models/recognizer-other/x", Body=b"not mine")
    cache = tmp_path / "cache"
    model = resolve_model(f"s3://{s3_bucket}/models/rec", cache, factory)
    assert (model.path / "config.json").read_bytes() == b"{}"
    assert (model.path / "sub" / "weights.bin").stat().st_size == 1000
    assert not (model.path / "x").exists()
    assert model.identity.startswith("rec@sha256:")

    s3.delete_object(Bucket=s3_bucket, Key="models/rec/config.json")  # cache is used now
    again = resolve_model(f"s3://{s3_bucket}/models/rec", cache, factory)
    assert again == model
    assert not list(cache.glob(".download-*"))


def test_s3_single_object(
    tmp_path: Path, s3: Any, s3_bucket: str, factory: Callable[[], Any]
) -> None:
    s3.put_object(Bucket=s3_bucket, Key="models/detector.pt", Body=b"pt-bytes")
    model = resolve_model(f"s3://{s3_bucket}/models/detector.pt", tmp_path, factory)
    assert model.path.name == "detector.pt" and model.path.read_bytes() == b"pt-bytes"


def test_short_download_leaves_no_model_behind(
    tmp_path: Path, s3: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=s3_bucket, Key="models/d.pt", Body=b"0123456789")

    def short(bucket: str, key: str, filename: str) -> None:
        Path(filename).write_bytes(b"01234")

    monkeypatch.setattr(s3, "download_file", short)
    with pytest.raises(ModelUnavailable, match="expected 10"):
        resolve_model(f"s3://{s3_bucket}/models/d.pt", tmp_path / "cache", lambda: s3)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


@pytest.mark.parametrize(
    "source",
    ["s3://only-bucket", "./missing/model", "org/model-id"],
    ids=["no-prefix", "missing-path", "hub-id-offline"],
)
def test_unavailable_sources(
    tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch, factory: Callable[[], Any]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable):
        resolve_model(source, tmp_path, factory)


def test_missing_s3_prefix(tmp_path: Path, s3_bucket: str, factory: Callable[[], Any]) -> None:
    with pytest.raises(ModelUnavailable, match="nothing stored"):
        resolve_model(f"s3://{s3_bucket}/models/none", tmp_path, factory)
