"""The sweeper's fast reclaim: the pages of a GPU worker whose heartbeat stopped go back to
the queue at once, not after the page lease or the broker's visibility timeout.

Each page claim records the claiming worker's heartbeat name (``Page.claimed_by``). Every
``QUIRE_RECLAIM_INTERVAL_SECONDS`` the sweeper lists the GPU workers whose heartbeat key is
alive (it expires ``QUIRE_WORKER_DEAD_AFTER_SECONDS`` after the last beat); a running page
claimed by a worker not among them, for longer than that, is requeued and sent again (its
attempt counted, dead-lettered when attempts are spent), through the same steps as the
reconcile pass's lost pages. The dead worker's own message comes back from the broker later
and finds the page finished or held by another worker: it is dropped. A worker that was only
slow finds its page handed back when it writes, and drops its result (``job_state``), so a
page is never recorded twice.

CPU workers beat too, and a job's split and a batch's archive read record the CPU worker
doing them (``Job.claimed_by``, ``Batch.claimed_by``, with the time). When that worker's
heartbeat stops, a job still not fully split gets ``prepare_job`` again and a batch whose
archive is not fully read gets ``ingest_batch`` again (both idempotent and resumable), once:
the claim is cleared as the message is sent. Webhook deliveries need nothing here: each
attempt holds a short lease of its own (``worker/sweeper.py``).

Right after Redis restarts, every heartbeat is missing until workers beat again, so nothing is
reclaimed while the server's uptime is below the dead-after period plus a beat.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from sqlalchemy import func, or_, select, update

from shared.db.models import JOBS_IN_FLIGHT, Batch, BatchStatus, Job, Page, PageStatus, utcnow
from shared.db.session import transaction
from shared.queues import (
    CPU_QUEUE,
    GPU_QUEUE,
    INGEST_BATCH,
    PREPARE_JOB,
    TASK_QUEUES,
    ingest_batch_payload,
    prepare_job_payload,
)
from shared.redis_client import redis_from_url
from worker.context import WorkerContext
from worker.heartbeat import HEARTBEAT_SECONDS, live_workers
from worker.reconcile import PageRef, recover_running_pages

log = logging.getLogger("quire.reclaim")
LIMIT = 1000


def orphaned_pages(ctx: WorkerContext, alive: set[str], cutoff: datetime) -> list[PageRef]:
    """Running pages of active jobs claimed before ``cutoff`` by a worker not in ``alive``."""
    query = (
        select(
            Page.job_id, Page.index, Job.priority, Page.started_at, Page.attempts, Page.claimed_by
        )
        .join(Job, Job.id == Page.job_id)
        .where(
            Page.status == PageStatus.RUNNING.value,
            Page.claimed_by.is_not(None),
            Job.status.in_(JOBS_IN_FLIGHT),
            Page.started_at < cutoff,
        )
        .order_by(Page.started_at)
        .limit(LIMIT)
    )
    with transaction(ctx.sessions) as session:
        rows = session.execute(query).all()
    return [
        PageRef(job_id, index, priority, started, attempts)
        for job_id, index, priority, started, attempts, worker in rows
        if worker not in alive
    ]


def reclaim_once(ctx: WorkerContext, client: redis.Redis | None = None) -> tuple[int, int]:
    """One pass; returns (pages requeued, pages dead-lettered); splits and ingests of dead
    CPU workers are sent again too (logged)."""
    own = client is None
    client = client or redis_from_url(ctx.settings.broker_url)
    dead_after = ctx.settings.worker_dead_after_seconds
    try:
        uptime = int(client.info("server").get("uptime_in_seconds", 0))
        if uptime < dead_after + HEARTBEAT_SECONDS:
            return 0, 0  # heartbeats are still coming back after a Redis restart
        gpu = live_workers(client, GPU_QUEUE)
        alive = gpu | live_workers(client, CPU_QUEUE)  # a worker may serve both queues
    finally:
        if own:
            client.close()
    cutoff = utcnow() - timedelta(seconds=dead_after)
    resent = reclaim_cpu_work(ctx, alive, cutoff)
    if resent:
        log.warning("reclaim: %d splits and ingests of stopped workers sent again", resent)
    pages = orphaned_pages(ctx, gpu, cutoff)
    if not pages:
        return 0, 0
    requeued, dead = recover_running_pages(ctx, pages)
    log.warning("reclaim: %d pages of stopped workers requeued, %d dead-lettered", requeued, dead)
    return requeued, dead


def reclaim_cpu_work(ctx: WorkerContext, alive: set[str], cutoff: datetime) -> int:
    """Send ``prepare_job`` / ``ingest_batch`` again for the unfinished splits and archive
    reads of workers not in ``alive`` claimed before ``cutoff``; returns how many."""
    page_rows = select(func.count()).where(Page.job_id == Job.id).scalar_subquery()
    jobs = (
        select(Job.id, Job.priority, Job.claimed_by, Job.claimed_at)
        .where(
            Job.status.in_(JOBS_IN_FLIGHT),
            Job.claimed_by.is_not(None),
            Job.claimed_at < cutoff,
            or_(Job.pages_total == 0, Job.pages_total > page_rows),
        )
        .limit(LIMIT)
    )
    batches = (
        select(Batch.id, Batch.priority, Batch.claimed_by, Batch.claimed_at)
        .where(
            Batch.status.in_([BatchStatus.INGESTING.value, BatchStatus.RUNNING.value]),
            Batch.ingested_at.is_(None),
            Batch.source_key.is_not(None),
            Batch.claimed_by.is_not(None),
            Batch.claimed_at < cutoff,
        )
        .limit(LIMIT)
    )
    sent = 0
    for table, query, task, payload in (
        (Job, jobs, PREPARE_JOB, prepare_job_payload),
        (Batch, batches, INGEST_BATCH, ingest_batch_payload),
    ):
        with transaction(ctx.sessions) as session:
            rows = [r for r in session.execute(query).all() if r.claimed_by not in alive]
        for row in rows:
            with transaction(ctx.sessions) as session:  # once: the claim goes as it is sent
                taken = session.execute(
                    update(table)
                    .where(table.id == row.id, table.claimed_at == row.claimed_at)
                    .values(claimed_by=None, claimed_at=None)
                ).rowcount  # type: ignore[attr-defined]
            if taken:
                ctx.producer.send_task(task, kwargs=payload(row.id), queue=TASK_QUEUES[task])
                sent += 1
    return sent
