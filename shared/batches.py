"""A batch's progress, computed from its jobs: counts by status, pages, progress and ETA."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import Batch, BatchStatus, Job, JobStatus


@dataclass(frozen=True)
class BatchCounts:
    """How far a batch's jobs have got."""

    jobs: dict[str, int] = field(default_factory=dict)
    pages_total: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    first_started: datetime | None = None
    # Pages of canceled jobs that will never run: finished for progress, not for the rate.
    pages_canceled: int = 0

    @property
    def jobs_total(self) -> int:
        return sum(self.jobs.values())

    @property
    def jobs_pending(self) -> int:
        return sum(n for s, n in self.jobs.items() if not JobStatus(s).terminal)


def batch_counts(session: Session, batch_id: str) -> BatchCounts:
    """Jobs by status and page sums of one batch, in one grouped query."""
    rows = session.execute(
        select(
            Job.status,
            func.count(),
            func.coalesce(func.sum(Job.pages_total), 0),
            func.coalesce(func.sum(Job.pages_done), 0),
            func.coalesce(func.sum(Job.pages_failed), 0),
            func.min(Job.started_at),
        )
        .where(Job.batch_id == batch_id)
        .group_by(Job.status)
    ).all()
    jobs = {status.value: 0 for status in JobStatus}
    totals = [0, 0, 0]
    starts: list[datetime] = []
    dropped = 0
    for status, count, total, done, failed, started in rows:
        jobs[status] = int(count)
        totals = [totals[0] + int(total), totals[1] + int(done), totals[2] + int(failed)]
        if status == JobStatus.CANCELED:
            dropped += max(int(total) - int(done) - int(failed), 0)
        if started is not None:
            starts.append(started)
    total, done, failed = totals
    return BatchCounts(jobs, total, done, failed, min(starts, default=None), dropped)


def progress(batch: Batch, counts: BatchCounts) -> float:
    """Finished share of the batch, 0.0 to 1.0; jobs not yet split count as one page, and
    the pages a canceled job dropped count as finished."""
    if BatchStatus(batch.status).terminal:
        return 1.0
    unsplit = counts.jobs.get(JobStatus.QUEUED.value, 0) if counts.pages_total == 0 else 0
    finished = counts.pages_done + counts.pages_failed + counts.pages_canceled
    total = max(counts.pages_total + unsplit, 1)
    return round(min(finished / total, 1.0), 4)


def eta_seconds(batch: Batch, counts: BatchCounts, now: datetime) -> int | None:
    """Seconds left at the rate pages have finished so far; None until one has."""
    if BatchStatus(batch.status).terminal:
        return 0
    finished = counts.pages_done + counts.pages_failed
    if finished == 0 or counts.first_started is None:
        return None
    elapsed = max((now - counts.first_started).total_seconds(), 1e-3)
    remaining = max(counts.pages_total - finished - counts.pages_canceled, 0)
    return math.ceil(remaining * elapsed / finished)


def final_status(counts: BatchCounts) -> BatchStatus:
    """A finished batch's status from its jobs' outcomes."""
    succeeded = counts.jobs.get(JobStatus.SUCCEEDED.value, 0)
    partial = counts.jobs.get(JobStatus.PARTIAL.value, 0)
    if counts.jobs_total > 0 and succeeded == counts.jobs_total:
        return BatchStatus.SUCCEEDED
    if succeeded + partial == 0:
        canceled = counts.jobs.get(JobStatus.CANCELED.value, 0)
        if counts.jobs_total > 0 and canceled == counts.jobs_total:
            return BatchStatus.CANCELED
        return BatchStatus.FAILED
    return BatchStatus.PARTIAL
