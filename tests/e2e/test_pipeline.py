"""Submit over HTTP, process in real Celery workers, poll to the end (PostgreSQL, Redis, S3)."""

from __future__ import annotations

import signal
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, poll_job

pytestmark = pytest.mark.e2e
SENTENCE = "Covfefe is a perfectly cromulent word."


def submit(stack: Stack, key: str, data: bytes, name: str = "crom.png") -> dict:
    response = httpx.post(
        f"{stack.url}/v1/jobs",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": (name, data, "image/png")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_image_goes_through_the_whole_pipeline(
    stack: Stack, api_key: str, crom_png: bytes, s3_env: dict[str, str], s3_client: Any
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    job = submit(stack, api_key, crom_png)

    final = poll_job(stack.url, api_key, job["id"], {"succeeded", "failed", "partial"})
    assert final["status"] == "succeeded", final
    assert (final["pages_total"], final["pages_done"], final["pages_failed"]) == (1, 1, 0)

    headers = {"Authorization": f"Bearer {api_key}"}
    result = httpx.get(f"{stack.url}/v1/jobs/{job['id']}/result", headers=headers).json()
    assert SENTENCE in result["text"]
    page = result["pages"][0]
    assert (page["width"], page["height"]) == (400, 50)
    assert page["lines"][0]["text"] == SENTENCE
    assert 0.5 < page["lines"][0]["confidence"] <= 1.0
    x0, y0, x1, y1 = page["lines"][0]["bbox"]
    assert 0 <= x0 < x1 <= 400 and 0 <= y0 < y1 <= 50
    assert result["model"].startswith("ppocrv5-det")
    txt = httpx.get(f"{stack.url}/v1/jobs/{job['id']}/result?format=txt", headers=headers)
    assert txt.text.strip() == SENTENCE

    s3 = s3_client
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_env["QUIRE_S3_BUCKET"])["Contents"]]
    assert keys == [k for k in keys if k.startswith("tenants/")] and len(keys) == 1


def test_job_survives_worker_restart_between_enqueue_and_processing(
    stack: Stack, api_key: str, crom_png: bytes
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    assert stack.stop("worker-gpu", signal.SIGTERM) == 0  # warm shutdown, nothing in flight

    job = submit(stack, api_key, crom_png)
    queued = poll_job(stack.url, api_key, job["id"], {"queued"}, timeout=10)
    time.sleep(2)  # prepare has run; the page message waits in Redis with no consumer
    still = httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers={"X-API-Key": api_key}).json()
    assert still["status"] == "queued" and still["pages_total"] == 1, (queued, still)

    stack.start_worker("gpu")  # a new worker process picks the waiting page up
    final = poll_job(stack.url, api_key, job["id"], {"succeeded", "failed"})
    assert final["status"] == "succeeded"


def test_corrupt_image_becomes_failed_job_and_workers_keep_serving(
    stack: Stack, api_key: str, crom_png: bytes
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    truncated = crom_png[: len(crom_png) // 2]
    bad = poll_job(
        stack.url, api_key, submit(stack, api_key, truncated)["id"], {"succeeded", "failed"}
    )
    assert bad["status"] == "failed"
    assert bad["error"]["code"] == "corrupt_image"
    good = poll_job(
        stack.url, api_key, submit(stack, api_key, crom_png)["id"], {"succeeded", "failed"}
    )
    assert good["status"] == "succeeded"


def test_sigterm_during_work_loses_no_page(stack: Stack, api_key: str, crom_png: bytes) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    ids = [submit(stack, api_key, crom_png, f"p{i}.png")["id"] for i in range(12)]
    assert stack.stop("worker-gpu", signal.SIGTERM, timeout=90) == 0  # soft shutdown
    assert b"draining: no new pages" in stack.log_of("worker-gpu")  # not ready for the scaler
    stack.start_worker("gpu")
    finals = [poll_job(stack.url, api_key, job_id, {"succeeded", "failed"}) for job_id in ids]
    assert [f["status"] for f in finals] == ["succeeded"] * len(ids)
    assert all((f["pages_total"], f["pages_done"]) == (1, 1) for f in finals)
