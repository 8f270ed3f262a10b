"""The YOLOv8 + TrOCR engine (tiny random-weight models built offline) in a real GPU-queue
worker, loading its models from S3 (moto), batching the pages of concurrent jobs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import text_image
from tests.e2e.conftest import OFFLINE, QUIRE, REPO, Stack, poll_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    env.update(OFFLINE, YOLO_CONFIG_DIR=str(out / "ultralytics"))
    subprocess.run(
        [*QUIRE, "models", "build", "--size", "tiny", "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        env=env,
    )
    assert (out / "detector.pt").is_file() and (out / "recognizer" / "config.json").is_file()
    return out


def upload_folder(client: object, bucket: str, folder: Path, prefix: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder)}"
            client.upload_file(str(path), bucket, key)  # type: ignore[attr-defined]


def test_yolo_trocr_engine_from_s3_through_real_celery(
    stack: Stack, api_key: str, tiny_models: Path, s3_env: dict[str, str], s3_client: Any
) -> None:
    s3 = s3_client
    bucket = s3_env["QUIRE_S3_BUCKET"]
    s3.upload_file(str(tiny_models / "detector.pt"), bucket, "models/detector.pt")
    upload_folder(s3, bucket, tiny_models / "recognizer", "models/recognizer")
    stack.env.update(
        {
            "QUIRE_ENGINE": "yolo-trocr",
            "QUIRE_DETECTOR_MODEL": f"s3://{bucket}/models/detector.pt",
            "QUIRE_RECOGNIZER_MODEL": f"s3://{bucket}/models/recognizer",
            "QUIRE_DETECTOR_CONFIDENCE": "0.0001",  # random weights: let some boxes through
            "QUIRE_DETECTOR_IMAGE_SIZE": "320",
            "QUIRE_RECOGNIZER_MAX_NEW_TOKENS": "8",
            "QUIRE_RECOGNIZER_MIN_NEW_TOKENS": "4",  # random weights: no empty lines
        }
    )
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")

    headers = {"Authorization": f"Bearer {api_key}"}
    ids = []
    for i in range(6):
        page = text_image([f"page {i} line one", "and line two"])
        response = httpx.post(
            f"{stack.url}/v1/jobs",
            headers=headers,
            files={"file": (f"p{i}.png", page, "image/png")},
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    for job_id in ids:
        final = poll_job(stack.url, api_key, job_id, {"succeeded", "failed"}, timeout=120)
        assert final["status"] == "succeeded", final
    result = httpx.get(f"{stack.url}/v1/jobs/{ids[0]}/result", headers=headers).json()
    assert result["model"].startswith("detector@sha256:")
    assert "+recognizer@sha256:" in result["model"]
    page = result["pages"][0]
    assert page["lines"], "random-weight YOLO at conf 0.0001 should emit boxes"
    for line in page["lines"]:
        x0, y0, x1, y1 = line["bbox"]
        assert 0 <= x0 <= x1 <= page["width"] and 0 <= y0 <= y1 <= page["height"]
        assert 0.0 <= line["confidence"] <= 1.0
    cached = Path(stack.env["QUIRE_DATA_DIR"]) / "models"
    assert len(list(cached.iterdir())) == 2  # each model downloaded once
