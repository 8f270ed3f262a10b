"""The reconcile pass against real Redis and real databases: work the broker lost is sent
again exactly once, work the broker still holds is left alone, and pages whose worker
vanished are requeued or dead-lettered."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from api.app import create_app
from shared.celery_config import build_celery
from shared.db.models import Batch, Job, Page, PageStatus, utcnow
from shared.db.session import transaction
from shared.objectkeys import batch_source_key
from shared.queues import OCR_PAGE
from shared.settings import Settings
from shared.tenancy import ensure_tenant
from tests.batch_inputs import pdf_bytes, zip_of
from tests.fakes import striped_page
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import queued_messages
from worker.context import WorkerContext
from worker.ingest import ingest_batch
from worker.job_state import claim_page
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.reconcile import UNACKED_KEY, decode_envelope, reconcile_once
from worker.sweeper import run_sweeper

pytestmark = pytest.mark.integration
LATER = timedelta(hours=1)  # past every staleness threshold and lease


def png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(striped_page([20])).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], fresh_database_url: str, redis_url: str
) -> Settings:
    # A database of its own: a pass looks at every row, other tests' included.
    return make_settings(database_url=fresh_database_url, redis_url=redis_url)


def tasks_in(client: redis.Redis, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """(task, kwargs) of each message waiting in a queue."""
    decoded = [decode_envelope(m) for m in queued_messages(client, queue)]
    return [d for d in decoded if d is not None]


def page_messages(client: redis.Redis) -> list[int]:
    return sorted(kw["page_index"] for task, kw in tasks_in(client, "gpu") if task == OCR_PAGE)


def pages(ctx: WorkerContext, job_id: str) -> list[Page]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.index)))


def test_nothing_is_resent_while_the_broker_holds_the_work(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(pdf_bytes(["one", "two"]), "application/pdf", "pdf")
    prepare_job(ctx, job_id)
    assert page_messages(redis_client) == [0, 1]
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.repairs == 0 and report.broker_messages_seen == 2
    assert page_messages(redis_client) == [0, 1]


def test_pages_lost_with_the_broker_are_sent_again_once(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(pdf_bytes(["one", "two", "three"]), "application/pdf", "pdf")
    prepare_job(ctx, job_id)
    redis_client.flushdb()  # Redis restarted without persistence
    assert reconcile_once(ctx).repairs == 0  # not stale yet: a message may be on its way
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.pages_resent == 3
    assert page_messages(redis_client) == [0, 1, 2]
    assert reconcile_once(ctx, now=utcnow() + LATER).repairs == 0  # held again: no duplicate
    for index in range(3):
        ocr_page(ctx, job_id, index)
    with ctx.sessions() as session:
        assert session.get(Job, job_id).status == "succeeded"  # type: ignore[union-attr]


def move_to_unacked(client: redis.Redis, queue: str) -> None:
    """What kombu does when a worker takes a message: list -> the ``unacked`` hash."""
    for key in [queue] + [f"{queue}\x06\x16{p}" for p in range(1, 10)]:
        while (raw := client.rpop(key)) is not None:
            envelope = json.loads(raw)
            tag = envelope["properties"]["delivery_tag"]
            client.hset(UNACKED_KEY, tag, json.dumps([envelope, queue, queue]))


def start_page(ctx: WorkerContext, job_id: str, index: int) -> None:
    with transaction(ctx.sessions) as session:
        assert claim_page(session, job_id, index, ctx.settings.max_attempts) is not None


def test_running_page_held_by_a_worker_is_left_alone(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())
    prepare_job(ctx, job_id)
    move_to_unacked(redis_client, "gpu")
    start_page(ctx, job_id, 0)
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.repairs == 0 and report.broker_messages_seen == 1
    assert pages(ctx, job_id)[0].status == PageStatus.RUNNING


def test_running_page_whose_worker_and_message_vanished_is_requeued(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())
    prepare_job(ctx, job_id)
    start_page(ctx, job_id, 0)
    redis_client.flushdb()
    assert reconcile_once(ctx).repairs == 0  # within its lease
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.pages_requeued == 1
    page = pages(ctx, job_id)[0]
    assert page.status == PageStatus.QUEUED and page.attempts == 1
    assert page_messages(redis_client) == [0]
    ocr_page(ctx, job_id, 0)
    assert pages(ctx, job_id)[0].status == PageStatus.SUCCEEDED


def test_lost_page_out_of_attempts_is_dead_lettered(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())
    prepare_job(ctx, job_id)
    for _ in range(ctx.settings.max_attempts):
        start_page(ctx, job_id, 0)
    redis_client.flushdb()
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.pages_dead_lettered == 1 and report.pages_requeued == 0
    page = pages(ctx, job_id)[0]
    assert page.status == PageStatus.FAILED and page.error_code == "attempts_exhausted"
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "failed" and job.finished_at is not None
    assert page_messages(redis_client) == []


def test_a_page_left_running_in_a_canceled_job_is_settled(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())
    prepare_job(ctx, job_id)
    start_page(ctx, job_id, 0)  # its worker then vanishes
    with transaction(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = "canceled"
    redis_client.flushdb()
    assert reconcile_once(ctx).pages_settled == 0  # within its lease
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.pages_settled == 1 and report.pages_requeued == 0
    assert pages(ctx, job_id)[0].status == PageStatus.CANCELED
    assert page_messages(redis_client) == []


def test_a_job_never_prepared_is_prepared(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())  # a row and its object, but the prepare_job message was lost
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.jobs_resent == 1
    assert [t for t, _ in tasks_in(redis_client, "cpu")] == ["quire.prepare_job"]
    assert reconcile_once(ctx, now=utcnow() + LATER).jobs_resent == 0
    prepare_job(ctx, job_id)
    assert page_messages(redis_client) == [0]


def test_finished_jobs_are_never_touched(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = make_job(png())
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)
    redis_client.flushdb()
    assert reconcile_once(ctx, now=utcnow() + LATER).repairs == 0


def test_an_archive_not_read_is_ingested_again(
    ctx: WorkerContext, redis_client: redis.Redis
) -> None:
    with transaction(ctx.sessions) as session:
        tenant = ensure_tenant(session, "reconcile-tests")
        batch = Batch(tenant_id=tenant.id, filename="a.zip")
        session.add(batch)
        session.flush()
        batch.source_key = batch_source_key(tenant.id, batch.id, "zip")
        batch_id, key = batch.id, batch.source_key
    ctx.store.put_bytes(key, zip_of({"a.png": png()}), "application/zip")
    report = reconcile_once(ctx, now=utcnow() + LATER)
    assert report.batches_resent == 1
    assert [t for t, _ in tasks_in(redis_client, "cpu")] == ["quire.ingest_batch"]
    ingest_batch(ctx, batch_id)
    redis_client.flushdb()
    later = reconcile_once(ctx, now=utcnow() + LATER)
    assert later.batches_resent == 0 and later.jobs_resent == 1  # its job's prepare was lost


def test_an_upload_accepted_while_the_broker_was_down_is_processed_when_it_is_back(
    settings: Settings,
    ctx: WorkerContext,
    new_key: Callable[[str], str],
    redis_client: redis.Redis,
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    with TestClient(create_app(down)) as client:
        response = client.post(
            "/v1/jobs",
            headers=auth(new_key("outage")),
            files={"file": ("a.png", png(), "image/png")},
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert tasks_in(redis_client, "cpu") == [] and tasks_in(redis_client, "gpu") == []
    # A one-page image has its page from the submit: the page's task is what is sent.
    assert reconcile_once(ctx, now=utcnow() + LATER).pages_resent == 1
    assert [t for t, _ in tasks_in(redis_client, "gpu")] == ["quire.ocr_page"]
    ocr_page(ctx, job_id, 0)
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "succeeded"


def test_the_sweeper_reconciles_on_its_own_schedule(
    settings: Settings, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    quick = settings.model_copy(
        update={
            "stale_after_seconds": 0.2,
            "reconcile_interval_seconds": 0.3,
            "sweep_interval_seconds": 0.05,
        }
    )
    context = WorkerContext.build(quick, producer=build_celery(quick))
    make_job(png())  # its prepare_job message was never sent
    stop = threading.Event()
    sweeper = threading.Thread(target=run_sweeper, args=(context, stop))
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while not tasks_in(redis_client, "cpu") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # several more passes: the message is held now, none is added
    finally:
        stop.set()
        sweeper.join(10)
        context.close()
    assert [t for t, _ in tasks_in(redis_client, "cpu")] == ["quire.prepare_job"]
