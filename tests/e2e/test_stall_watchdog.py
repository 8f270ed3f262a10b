"""A GPU worker whose consumer stops consuming (as after some broker restarts) while work
waits shuts itself down, so that its supervisor starts a fresh one; nothing is lost."""

from __future__ import annotations

import httpx

from shared.celery_config import build_celery
from shared.queues import GPU_QUEUE
from shared.settings import Settings
from tests.e2e.conftest import Stack, poll_job, wait_for

STALL_SECONDS = 3


def test_a_stalled_consumer_ends_its_worker_and_the_page_is_done_by_the_next(
    stack: Stack, stack_env: dict[str, str], api_key: str, crom_png: bytes
) -> None:
    stack.env = {**stack_env, "QUIRE_WORKER_STALL_SECONDS": str(STALL_SECONDS)}
    stack.start_api()
    stack.start_worker(GPU_QUEUE)
    # Stall the real consumer on purpose: the worker stays up but takes nothing from "gpu".
    app = build_celery(Settings(redis_url=stack_env["QUIRE_REDIS_URL"]), name="e2e-control")
    replies = app.control.cancel_consumer(GPU_QUEUE, reply=True, timeout=10)
    app.close()
    assert len(replies) == 1, replies

    job = httpx.post(
        f"{stack.url}/v1/jobs",
        headers={"Authorization": f"Bearer {api_key}"},
        files={"file": ("crom.png", crom_png, "image/png")},
        timeout=30,
    ).json()
    stalled = stack.procs["worker-gpu"]
    wait_for(lambda: stalled.poll() is not None, 60, "the stalled worker to end itself")
    assert b"its consumer has stalled" in stack.log_of("worker-gpu")
    queued = httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers={"X-API-Key": api_key})
    assert queued.json()["status"] == "queued"  # the page waited; nothing took it

    stack.start("worker-gpu-next", "worker", "--queues", GPU_QUEUE)  # what a supervisor does
    done = poll_job(stack.url, api_key, job["id"], {"succeeded", "failed"}, timeout=120)
    assert done["status"] == "succeeded", done
