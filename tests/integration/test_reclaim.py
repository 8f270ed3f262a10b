"""Fast reclaim: the pages of a GPU worker whose heartbeat stopped go back to the queue at
once; a live worker's pages, a fresh claim and an unnamed claim are left alone; a slow worker
that comes back drops its result; a stale message for a page another worker holds is dropped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select

from shared.db.models import Job, Page, PageStatus, utcnow
from shared.db.session import transaction
from tests.fakes import striped_page
from tests.integration.test_api_jobs import queued_messages
from tests.integration.test_worker_steps import encode
from worker.context import WorkerContext
from worker.heartbeat import beat
from worker.job_state import claim_page, record_page_result
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.reclaim import reclaim_once

pytestmark = pytest.mark.integration


def running_job(ctx: WorkerContext, make_job: Callable[..., str], worker: str | None) -> str:
    job_id = make_job(encode(striped_page([20, 20])))
    prepare_job(ctx, job_id)
    with transaction(ctx.sessions) as session:
        claim_page(session, job_id, 0, ctx.settings.max_attempts, worker, 600)
        page = session.scalar(select(Page).where(Page.job_id == job_id))
        assert page is not None
        page.started_at = utcnow() - timedelta(minutes=1)
    return job_id


def page_of(ctx: WorkerContext, job_id: str) -> Page:
    with ctx.sessions() as session:
        page = session.scalar(select(Page).where(Page.job_id == job_id))
        assert page is not None
        session.expunge(page)
        return page


def test_only_dead_workers_pages_go_back(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    dead = running_job(ctx, make_job, "quire-gpu-1@gone")
    live = running_job(ctx, make_job, "quire-gpu-2@here")
    unnamed = running_job(ctx, make_job, None)
    fresh = running_job(ctx, make_job, "quire-gpu-3@gone")
    with transaction(ctx.sessions) as session:
        page = session.scalar(select(Page).where(Page.job_id == fresh))
        page.started_at = utcnow()  # type: ignore[union-attr]
    redis_client.delete("gpu")  # prepare's messages: only the reclaim's are counted below
    beat(redis_client, "gpu", "quire-gpu-2@here", 1)
    requeued, _ = reclaim_once(ctx, redis_client)
    assert requeued >= 1  # the database is shared: earlier tests' dead claims count too
    assert page_of(ctx, dead).status == PageStatus.QUEUED
    assert page_of(ctx, dead).error_message and "worker" in page_of(ctx, dead).error_message
    for job_id in (live, unnamed, fresh):
        assert page_of(ctx, job_id).status == PageStatus.RUNNING
    sent = [
        m["headers"]["argsrepr"] + m["headers"]["kwargsrepr"]
        for m in queued_messages(redis_client, "gpu")
    ]
    assert sum(dead in m for m in sent) == 1 and not any(live in m for m in sent)
    assert reclaim_once(ctx, redis_client) == (0, 0)  # nothing twice


def test_a_dead_workers_page_out_of_attempts_is_dead_lettered(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = running_job(ctx, make_job, "quire-gpu-9@gone")
    with transaction(ctx.sessions) as session:
        page = session.scalar(select(Page).where(Page.job_id == job_id))
        page.attempts = ctx.settings.max_attempts  # type: ignore[union-attr]
    reclaim_once(ctx, redis_client)
    assert page_of(ctx, job_id).error_code == "attempts_exhausted"
    with ctx.sessions() as session:
        assert session.get(Job, job_id).status == "failed"  # type: ignore[union-attr]


def test_a_slow_worker_drops_its_result_and_a_stale_message_is_dropped(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    job_id = running_job(ctx, make_job, "quire-gpu-slow@host")
    reclaim_once(ctx, redis_client)  # its heartbeat stopped
    assert page_of(ctx, job_id).status == PageStatus.QUEUED
    ctx.worker_name = "quire-gpu-new@host"
    with transaction(ctx.sessions) as session:  # the new worker takes the page
        assert claim_page(session, job_id, 0, 10, "quire-gpu-new@host", 600) is not None
    result = ctx.engine.run([encode_page()])[0]
    with transaction(ctx.sessions) as session:  # the slow one comes back: not its page now
        assert not record_page_result(session, job_id, 0, result, "m", "quire-gpu-slow@host")
    with transaction(ctx.sessions) as session:  # its stale message: held by another, dropped
        assert claim_page(session, job_id, 0, 10, "quire-gpu-slow@host", 600) is None
    assert page_of(ctx, job_id).claimed_by == "quire-gpu-new@host"
    with transaction(ctx.sessions) as session:
        assert record_page_result(session, job_id, 0, result, "m", "quire-gpu-new@host")
    assert page_of(ctx, job_id).status == PageStatus.SUCCEEDED


def test_ocr_page_records_the_claiming_worker(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    job_id = make_job(encode(striped_page([20])))
    prepare_job(ctx, job_id)
    ctx.worker_name = "quire-gpu-7@host"
    ocr_page(ctx, job_id, 0)
    page = page_of(ctx, job_id)
    assert page.status == PageStatus.SUCCEEDED and page.claimed_by == "quire-gpu-7@host"


def encode_page():  # type: ignore[no-untyped-def]
    return striped_page([20, 20])


def test_a_dead_cpu_workers_split_and_ingest_are_sent_again_once(
    ctx: WorkerContext, make_job: Callable[..., str], redis_client: redis.Redis
) -> None:
    from shared.db.models import Batch

    dead_job = make_job(encode(striped_page([20])))
    live_job = make_job(encode(striped_page([20])))
    past = utcnow() - timedelta(minutes=1)
    with transaction(ctx.sessions) as session:
        for job_id, worker in ((dead_job, "quire-cpu-1@gone"), (live_job, "quire-cpu-2@here")):
            job = session.get(Job, job_id)
            job.claimed_by, job.claimed_at = worker, past  # type: ignore[union-attr]
        tenant_id = session.get(Job, dead_job).tenant_id  # type: ignore[union-attr]
        batch = Batch(
            tenant_id=tenant_id,
            source_key="tenants/x/batches/b/source.zip",
            claimed_by="quire-cpu-1@gone",
            claimed_at=past,
        )
        session.add(batch)
        session.flush()
        batch_id = batch.id
    beat(redis_client, "cpu", "quire-cpu-2@here", 0)
    reclaim_once(ctx, redis_client)
    sent = [
        m["headers"]["task"] + m["headers"]["kwargsrepr"]
        for m in queued_messages(redis_client, "cpu")
    ]
    assert sum(dead_job in m and "prepare_job" in m for m in sent) == 1, sent
    assert sum(batch_id in m and "ingest_batch" in m for m in sent) == 1, sent
    assert not any(live_job in m for m in sent)
    with ctx.sessions() as session:
        assert session.get(Job, dead_job).claimed_by is None  # type: ignore[union-attr]
        assert session.get(Job, live_job).claimed_by == "quire-cpu-2@here"  # type: ignore[union-attr]
    redis_client.delete("cpu")
    reclaim_once(ctx, redis_client)
    assert not any(
        dead_job in m["headers"]["kwargsrepr"] for m in queued_messages(redis_client, "cpu")
    )


def test_prepare_records_the_splitting_worker(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    from tests.batch_inputs import pdf_bytes

    job_id = make_job(pdf_bytes(["a", "b"]), "application/pdf", "pdf")
    ctx.worker_name = "quire-cpu-5@host"
    prepare_job(ctx, job_id)
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.claimed_by == "quire-cpu-5@host" and job.claimed_at
