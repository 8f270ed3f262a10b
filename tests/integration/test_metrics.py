"""Prometheus metrics: the API's /metrics and the GPU worker's page and batch metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from tests.integration.conftest import auth
from tests.integration.test_api_jobs import png

pytestmark = pytest.mark.integration


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_api_metrics_count_requests_by_route_and_jobs_by_status(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    key = new_key("metrics")
    job_id = client.post(
        "/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")}
    ).json()["id"]
    client.get(f"/v1/jobs/{job_id}", headers=auth(key))
    client.get("/v1/jobs/nope", headers=auth(key))
    text = client.get("/metrics").text
    assert (
        sample(
            text, "quire_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="200"
        )
        == 1.0
    )
    assert (
        sample(
            text, "quire_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="404"
        )
        == 1.0
    )
    assert (
        sample(text, "quire_http_requests_total", method="POST", route="/v1/jobs", status="202")
        == 1.0
    )
    assert (sample(text, "quire_jobs", status="queued") or 0) >= 1
    assert (
        sample(text, "quire_http_request_duration_seconds_count", method="POST", route="/v1/jobs")
        == 1.0
    )


def test_worker_metrics_follow_pages_and_batches() -> None:
    from tests.fakes import fake_engine, striped_page
    from worker.metrics import BATCH_SIZE
    from worker.page_runner import BatchedPageRunner

    before = REGISTRY.get_sample_value("quire_worker_batch_size_count", {"stage": "recognizer"})
    runner = BatchedPageRunner(fake_engine(), detector_batch=4, recognizer_batch=8, max_wait=0)
    runner.run_page(striped_page([10, 12]))
    runner.close()
    after = REGISTRY.get_sample_value("quire_worker_batch_size_count", {"stage": "recognizer"})
    assert (after or 0) - (before or 0) >= 1
    assert BATCH_SIZE is not None
