"""The sweeper's retention pass: purge finished work older than its tenant's retention.

One pass is a bounded slice: at most ``QUIRE_PURGE_CHUNK_JOBS`` jobs in all, a batch counting
as one chunk of that many, each purge in transactions of its own. When the slice ran out
with work still due, the sweeper runs the next pass at once, between its webhook sweeps,
instead of waiting ``QUIRE_PURGE_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from shared.db.models import utcnow
from shared.db.session import transaction
from shared.errors import NotFound
from shared.purge import PurgeReason, PurgeRequest, purge_batch, purge_job
from shared.retention import TenantRetention, cutoff, due_batches, due_jobs, policies
from worker.context import WorkerContext

log = logging.getLogger("quire.sweeper")


def purge_expired(ctx: WorkerContext, now: datetime | None = None) -> bool:
    """One slice of the retention pass; True when it stopped with more work due."""
    moment = now or utcnow()
    with transaction(ctx.sessions) as session:
        tenants = policies(session, ctx.settings.retention_days)
    budget = ctx.settings.purge_chunk_jobs
    for policy in tenants:
        budget -= _purge_tenant(ctx, policy, moment, budget)
        if budget <= 0:
            return True
    return False


def _purge_tenant(ctx: WorkerContext, policy: TenantRetention, now: datetime, budget: int) -> int:
    """Purge what of one tenant is due, within ``budget`` jobs; returns how many it used."""
    if policy.days is None:  # kept forever (policies() leaves these out)
        return 0
    before = cutoff(policy.days, now)
    request = PurgeRequest(PurgeReason.RETENTION, policy.days, ctx.settings.purge_chunk_jobs)
    with transaction(ctx.sessions) as session:
        batches = due_batches(session, policy.tenant_id, before, 1)
        jobs = due_jobs(session, policy.tenant_id, before, budget)
    used = 0
    for batch_id in batches:
        slice_ = partial(purge_batch, ctx.sessions, ctx.store, batch_id, request, max_chunks=1)
        _purge_one("batch", batch_id, slice_)
        used += request.chunk_jobs
    for job_id in jobs[: max(budget - used, 0)]:
        _purge_one("job", job_id, partial(purge_job, ctx.sessions, ctx.store, job_id, request))
        used += 1
    return used


def _purge_one(kind: str, resource_id: str, purge: Callable[[], str | None]) -> None:
    try:
        receipt = purge()
    except NotFound:
        return  # deleted meanwhile: its DELETE wrote the receipt
    if receipt is not None:
        log.info("purged %s %s (retention), receipt %s", kind, resource_id, receipt)
