"""``retry-failed``: put the failed pages of a batch's failed and partial jobs (or of one such
job) back in the queue. Jobs are reset before the batch (the lock order of the workers: job,
then batch)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.submission import send_or_defer
from shared.db.models import Batch, BatchStatus, Job, JobStatus, Page, PageStatus
from shared.db.session import transaction
from shared.errors import Conflict, NotFound
from shared.lifecycle import lock_job
from shared.queues import PREPARE_JOB, prepare_job_payload
from shared.task_sender import TaskSender

RETRYABLE = (JobStatus.FAILED.value, JobStatus.PARTIAL.value)


def retry_failed_jobs(sessions: sessionmaker[Session], tasks: TaskSender, batch_id: str) -> int:
    """Reset and re-send the batch's failed work; returns how many jobs go again."""
    with transaction(sessions) as session:
        jobs = session.scalars(
            select(Job).where(Job.batch_id == batch_id, Job.status.in_(RETRYABLE)).with_for_update()
        ).all()
        for job in jobs:
            _reset_job(session, job)
        batch = session.get(Batch, batch_id, with_for_update=True)
        if jobs and batch is not None:
            _reopen(batch)
        retried = [(job.id, job.priority) for job in jobs]
    for job_id, priority in retried:
        send_or_defer(tasks, PREPARE_JOB, prepare_job_payload(job_id), priority)
    return len(retried)


def retry_failed_job(sessions: sessionmaker[Session], tasks: TaskSender, job_id: str) -> None:
    """Reset and re-send one failed or partial job's failed pages (its batch runs again).

    Raises:
        NotFound: The job is gone.
        Conflict: The job is neither failed nor partial, or its batch was canceled.
    """
    with transaction(sessions) as session:
        job = lock_job(session, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.status not in RETRYABLE:
            raise Conflict(f"job {job_id!r} is {job.status}: it has no failed pages to retry")
        batch = None
        if job.batch_id is not None:
            batch = session.get(Batch, job.batch_id, with_for_update=True)
        if batch is not None and batch.status == BatchStatus.CANCELED:
            raise Conflict(f"job {job_id!r} is in a canceled batch; submit its file again")
        _reset_job(session, job)
        if batch is not None:
            _reopen(batch)
        priority = job.priority
    send_or_defer(tasks, PREPARE_JOB, prepare_job_payload(job_id), priority)


def _reopen(batch: Batch) -> None:
    batch.status = BatchStatus.RUNNING.value
    batch.error_code = batch.error_message = None
    batch.finished_at = None


def _reset_job(session: Session, job: Job) -> None:
    session.execute(
        update(Page)
        .where(Page.job_id == job.id, Page.status == PageStatus.FAILED.value)
        .values(
            status=PageStatus.QUEUED.value,
            attempts=0,
            error_code=None,
            error_message=None,
            finished_at=None,
        )
    )
    job.status = JobStatus.RUNNING.value if job.pages_done else JobStatus.QUEUED.value
    job.pages_failed = 0
    job.error_code = job.error_message = None
    job.finished_at = None
