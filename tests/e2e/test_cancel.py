"""Cancel a multi-page job while the GPU-queue worker is processing it, through real processes
(API, Celery CPU and GPU workers on PostgreSQL, Redis and moto S3)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from shared.db.models import Page
from shared.db.session import build_engine, build_sessionmaker
from tests.batch_inputs import pdf_bytes
from tests.e2e.conftest import Stack, poll_job, wait_for

pytestmark = pytest.mark.e2e
PAGES = 12


def page_statuses(stack: Stack, job_id: str) -> list[str]:
    engine = build_engine(stack.env["QUIRE_DATABASE_URL"])
    with build_sessionmaker(engine)() as session:
        found = list(
            session.scalars(select(Page.status).where(Page.job_id == job_id).order_by(Page.index))
        )
    engine.dispose()
    return found


def test_cancel_mid_document_stops_at_a_page_boundary(
    stack: Stack, api_key: str, crom_png: bytes
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    # One page at a time, so most pages are still waiting when the cancel arrives.
    stack.start("worker-gpu", "worker", "--queues", "gpu", "--concurrency", "1")
    wait_for(lambda: b"ready." in stack.log_of("worker-gpu"), 60, "the gpu worker")
    headers = {"Authorization": f"Bearer {api_key}"}
    document = pdf_bytes([f"page number {i}" for i in range(PAGES)])
    job = httpx.post(
        f"{stack.url}/v1/jobs",
        headers=headers,
        files={"file": ("long.pdf", document, "application/pdf")},
        timeout=30,
    ).json()

    running = poll_job(stack.url, api_key, job["id"], {"running"}, timeout=120)
    # Every page exists (the split is done) and one has finished: the cancel lands between
    # pages, not in the split (a cancel mid-split is covered by the integration tests).
    wait_for(
        lambda: (
            len(page_statuses(stack, job["id"])) == PAGES
            and "succeeded" in page_statuses(stack, job["id"])
        ),
        120,
        "the split to end and a first page to finish",
    )
    canceled = httpx.post(f"{stack.url}/v1/jobs/{job['id']}/cancel", headers=headers, timeout=30)

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled", (running, canceled.json())
    # The page that was running may still land; nothing runs after it.
    wait_for(
        lambda: "running" not in page_statuses(stack, job["id"]), 60, "the running page to end"
    )
    settled = page_statuses(stack, job["id"])
    final = httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers=headers).json()
    assert final["status"] == "canceled"
    assert final["pages_total"] == len(settled) == PAGES, settled
    assert 1 <= final["pages_done"] < PAGES, settled
    assert set(settled) == {"succeeded", "canceled"}, settled
    assert settled.count("succeeded") == final["pages_done"]
    again = httpx.post(f"{stack.url}/v1/jobs/{job['id']}/cancel", headers=headers, timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "canceled"

    for name in ("api", "worker-cpu", "worker-gpu"):
        assert stack.procs[name].poll() is None, f"{name} died"
        assert b"Traceback" not in stack.log_of(name), stack.log_of(name)[-3000:]
    after = httpx.post(
        f"{stack.url}/v1/jobs",
        headers=headers,
        files={"file": ("crom.png", crom_png, "image/png")},
        timeout=30,
    ).json()
    done = poll_job(stack.url, api_key, after["id"], {"succeeded", "failed", "partial"})
    assert done["status"] == "succeeded", done
    assert page_statuses(stack, job["id"]) == settled  # the canceled job did not move
