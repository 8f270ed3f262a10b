"""How jobs and batches end: the one terminal transition of each, and cancellation.

The workers end a job when its last page lands and a batch when its last job ends; the API
cancels (and, before deleting, cancels what still runs). Both use these functions, so a job
or batch becomes terminal in exactly one place and its webhook event is written once.

Lock order is job rows, then page rows, then the batch row, everywhere: ``finish_job`` calls
``refresh_batch``, and ``cancel_batch`` locks the batch's jobs before the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.batches import batch_counts, final_status
from shared.db.models import Batch, BatchStatus, Job, JobStatus, Page, PageStatus, utcnow
from shared.errors import BatchFinished, JobFinished
from shared.webhook_events import record_batch_completed, record_job_completed

NO_DOCUMENTS = "no_documents"
PENDING_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def lock_job(session: Session, job_id: str) -> Job | None:
    """The job row, locked for this transaction (a no-op lock on SQLite)."""
    return session.get(Job, job_id, with_for_update=True, populate_existing=True)


def lock_batch(session: Session, batch_id: str) -> Batch | None:
    """The batch row, locked for this transaction (a no-op lock on SQLite)."""
    return session.get(Batch, batch_id, with_for_update=True, populate_existing=True)


def finish_job(
    session: Session,
    job: Job,
    status: JobStatus,
    error_code: str | None = None,
    error_message: str | None = None,
    *,
    update_batch: bool = True,
) -> None:
    """The one place a job becomes terminal; its webhook event is written in the same
    transaction, so it is never lost and never written twice.

    Args:
        session: The open transaction, holding the job's lock.
        job: The locked job.
        status: Its terminal status.
        error_code: Why it failed, if it did.
        error_message: The same, for people.
        update_batch: Whether to end the job's batch if this was its last pending job;
            ``cancel_batch`` ends the batch itself, after all its jobs.
    """
    job.status = status.value
    job.error_code = error_code
    job.error_message = error_message[:2000] if error_message else None
    job.finished_at = utcnow()
    record_job_completed(session, job)
    if update_batch and job.batch_id is not None:
        refresh_batch(session, job.batch_id)


def cancel_job(session: Session, job: Job, *, update_batch: bool = True) -> bool:
    """Cancel a locked job: its queued pages are dropped, a running page may still land.

    Args:
        session: The open transaction, holding the job's lock.
        job: The locked job.
        update_batch: Passed to ``finish_job``.

    Returns:
        True when this call canceled it, False when it was already canceled.

    Raises:
        JobFinished: The job already ended otherwise (succeeded, partial or failed).
    """
    status = JobStatus(job.status)
    if status is JobStatus.CANCELED:
        return False
    if status.terminal:
        raise JobFinished(f"job {job.id!r} has already ended as {status.value}")
    session.execute(
        update(Page)
        .where(Page.job_id == job.id, Page.status == PageStatus.QUEUED.value)
        .values(status=PageStatus.CANCELED.value, finished_at=utcnow())
    )
    finish_job(session, job, JobStatus.CANCELED, update_batch=update_batch)
    return True


def refresh_batch(session: Session, batch_id: str) -> None:
    """End the batch if its archive has been read and none of its jobs is pending."""
    session.flush()
    batch = lock_batch(session, batch_id)
    if batch is None or BatchStatus(batch.status).terminal or batch.ingested_at is None:
        return
    counts = batch_counts(session, batch_id)
    if counts.jobs_pending:
        return
    if counts.jobs_total == 0:
        message = f"none of the {batch.items_skipped} items is a document quire can read"
        finish_batch(session, batch, BatchStatus.FAILED, NO_DOCUMENTS, message)
        return
    finish_batch(session, batch, final_status(counts))


def finish_batch(
    session: Session,
    batch: Batch,
    status: BatchStatus,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """The one place a batch becomes terminal; ``batch.completed`` is written with it."""
    batch.status = status.value
    batch.error_code = error_code
    batch.error_message = error_message[:2000] if error_message else None
    batch.finished_at = utcnow()
    session.flush()
    record_batch_completed(session, batch, batch_counts(session, batch.id))


def cancel_batch(session: Session, batch_id: str) -> bool:
    """Cancel a batch and its pending jobs; its ingest stops at the next group it commits.

    Args:
        session: An open transaction.
        batch_id: The batch, known to exist.

    Returns:
        True when this call canceled it, False when it was already canceled (or is gone).

    Raises:
        BatchFinished: The batch already ended otherwise.
    """
    _lock_pending_jobs(session, batch_id)  # jobs first: the workers' lock order
    batch = lock_batch(session, batch_id)
    if batch is None or batch.status == BatchStatus.CANCELED:
        return False
    status = BatchStatus(batch.status)
    if status.terminal:
        raise BatchFinished(f"batch {batch_id!r} has already ended as {status.value}")
    # Again under the batch's lock: ingest may have added jobs since the first query.
    for job in _lock_pending_jobs(session, batch_id):
        cancel_job(session, job, update_batch=False)
    finish_batch(session, batch, BatchStatus.CANCELED)
    return True


def _lock_pending_jobs(session: Session, batch_id: str) -> Sequence[Job]:
    return session.scalars(
        select(Job)
        .where(Job.batch_id == batch_id, Job.status.in_(PENDING_JOB_STATUSES))
        .order_by(Job.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
