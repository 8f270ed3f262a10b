"""Webhooks through real processes: API, workers and sweeper, a receiver on loopback."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import Stack, poll_job, wait_for
from tests.webhook_receiver import Answer, Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def hooks_stack(stack: Stack) -> Stack:
    stack.env.update(
        {
            "QUIRE_WEBHOOK_ALLOW_HTTP": "true",
            "QUIRE_WEBHOOK_ALLOW_LOOPBACK": "true",
            "QUIRE_WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5",
            "QUIRE_WEBHOOK_TIMEOUT_SECONDS": "1",
            "QUIRE_SWEEP_INTERVAL_SECONDS": "0.2",
        }
    )
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    stack.start_sweeper()
    return stack


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def submit(stack: Stack, key: str, image: bytes, callback: str) -> str:
    response = httpx.post(
        f"{stack.url}/v1/jobs",
        headers={"X-API-Key": key},
        files={"file": ("p.png", image, "image/png")},
        data={"callback_url": callback},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def deliveries(stack: Stack, key: str, job_id: str) -> list[dict]:
    response = httpx.get(
        f"{stack.url}/v1/webhook-deliveries", params={"job_id": job_id}, headers={"X-API-Key": key}
    )
    assert response.status_code == 200
    return list(response.json()["items"])


def test_job_completion_delivers_one_verifiable_event(
    hooks_stack: Stack, api_key: str, crom_png: bytes, receiver: Receiver
) -> None:
    job_id = submit(hooks_stack, api_key, crom_png, receiver.url)
    poll_job(hooks_stack.url, api_key, job_id, {"succeeded"})
    (got,) = receiver.wait_for(1)
    secret = httpx.get(
        f"{hooks_stack.url}/v1/webhook-secret", headers={"X-API-Key": api_key}
    ).json()["secret"]
    event = Webhook(secret).verify(got.body, got.headers)
    assert event["type"] == "job.completed"
    assert event["data"]["job_id"] == job_id and event["data"]["status"] == "succeeded"
    wait_for(
        lambda: deliveries(hooks_stack, api_key, job_id)[0]["status"] == "delivered",
        10,
        "the log to show the delivery",
    )
    assert len(receiver.received) == 1


def test_receiver_failing_twice_gets_the_same_id_three_times_and_redelivery_works(
    hooks_stack: Stack, api_key: str, crom_png: bytes
) -> None:
    receiver = Receiver([Answer(500), Answer(502)])
    try:
        job_id = submit(hooks_stack, api_key, crom_png, receiver.url)
        got = receiver.wait_for(3)
        assert len({r.headers["webhook-id"] for r in got}) == 1
        wait_for(
            lambda: deliveries(hooks_stack, api_key, job_id)[0]["status"] == "delivered",
            10,
            "delivered",
        )
        (log,) = deliveries(hooks_stack, api_key, job_id)
        assert [a["status_code"] for a in log["attempt_log"]] == [500, 502, 200]

        replay = httpx.post(
            f"{hooks_stack.url}/v1/webhook-deliveries/{log['id']}/redeliver",
            headers={"X-API-Key": api_key},
        )
        assert replay.status_code == 202
        again = receiver.wait_for(4)
        assert again[3].headers["webhook-id"] == log["id"]
    finally:
        receiver.close()


def test_killing_the_cpu_worker_mid_delivery_loses_no_event(
    hooks_stack: Stack, api_key: str, crom_png: bytes
) -> None:
    receiver = Receiver([Answer(200, delay=30)])  # the first attempt hangs on the receiver
    try:
        job_id = submit(hooks_stack, api_key, crom_png, receiver.url)
        receiver.wait_for(1)
        hooks_stack.stop("worker-cpu", signal.SIGKILL)
        hooks_stack.start_worker("cpu")
        got = receiver.wait_for(2, timeout=60)  # the sweeper re-sends after the lease
        assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
        wait_for(
            lambda: deliveries(hooks_stack, api_key, job_id)[0]["status"] == "delivered",
            20,
            "delivered",
        )
    finally:
        receiver.close()


def test_bad_callback_urls_are_refused_at_submit(
    hooks_stack: Stack, api_key: str, crom_png: bytes
) -> None:
    for url in ("ftp://example.org/x", "http://user:pw@example.org/x", "not a url"):
        response = httpx.post(
            f"{hooks_stack.url}/v1/jobs",
            headers={"X-API-Key": api_key},
            files={"file": ("p.png", crom_png, "image/png")},
            data={"callback_url": url},
        )
        assert response.status_code == 422, url
        assert response.json()["code"] == "callback_url_refused"
