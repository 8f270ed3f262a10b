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

Right after Redis restarts, every heartbeat is missing until workers beat again, so nothing is
reclaimed while the server's uptime is below the dead-after period plus a beat.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from sqlalchemy import select

from shared.db.models import JOBS_IN_FLIGHT, Job, Page, PageStatus, utcnow
from shared.db.session import transaction
from shared.queues import GPU_QUEUE
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
    """One pass; returns (pages requeued, pages dead-lettered)."""
    own = client is None
    client = client or redis_from_url(ctx.settings.broker_url)
    dead_after = ctx.settings.worker_dead_after_seconds
    try:
        uptime = int(client.info("server").get("uptime_in_seconds", 0))
        if uptime < dead_after + HEARTBEAT_SECONDS:
            return 0, 0  # heartbeats are still coming back after a Redis restart
        alive = live_workers(client, GPU_QUEUE)
    finally:
        if own:
            client.close()
    pages = orphaned_pages(ctx, alive, utcnow() - timedelta(seconds=dead_after))
    if not pages:
        return 0, 0
    requeued, dead = recover_running_pages(ctx, pages)
    log.warning("reclaim: %d pages of stopped workers requeued, %d dead-lettered", requeued, dead)
    return requeued, dead
