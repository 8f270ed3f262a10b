"""Page and job state transitions in the database; every write is idempotent.

Lock order is always job row, then page rows, so concurrent page tasks of one job never
deadlock, and the job's counters are recomputed under the job's lock. A job becomes
terminal only through ``finish_job`` (``shared.lifecycle``, shared with the API's cancel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import Job, JobStatus, Page, PageStatus, utcnow
from shared.errors import AttemptsExhausted, QuireError
from shared.lifecycle import finish_job, lock_job
from worker.engines.base import PageOcr

log = logging.getLogger("quire.worker")

__all__ = [
    "PageClaim",
    "claim_page",
    "fail_job",
    "fail_unfinished_job",
    "finish_job",
    "lock_job",
    "note_page_error",
    "record_page_failure",
    "record_page_result",
    "refresh_job",
]


@dataclass(frozen=True)
class PageClaim:
    """A page a worker may now process."""

    job_id: str
    index: int
    image_key: str
    attempt: int
    queued_seconds: float
    model_choice: dict[str, str | None] | None = None


def get_page(session: Session, job_id: str, index: int) -> Page | None:
    return session.scalar(
        select(Page).where(Page.job_id == job_id, Page.index == index).with_for_update()
    )


def claim_page(
    session: Session,
    job_id: str,
    index: int,
    max_attempts: int,
    worker: str | None = None,
    lease_seconds: float | None = None,
) -> PageClaim | None:
    """Count an attempt and mark the page running by ``worker``; None when there is nothing
    to do.

    A page already finished (a redelivered message) or of a finished job is skipped, and so
    is a page another named worker claimed less than ``lease_seconds`` ago (a stale message
    of a worker whose page was handed back and taken by another); a page past
    ``max_attempts`` is failed with ``attempts_exhausted``.
    """
    job = lock_job(session, job_id)
    page = get_page(session, job_id, index)
    if job is None or page is None or JobStatus(job.status).terminal:
        return None
    if PageStatus(page.status).terminal:
        return None
    if _held_by_another(page, worker, lease_seconds):
        log.info("page %s/%s is running on %s; message dropped", job_id, index, page.claimed_by)
        return None
    page.attempts += 1
    if page.attempts > max_attempts:
        last = f" (last error: {page.error_message})" if page.error_message else ""
        fail_page(
            session, job, page, AttemptsExhausted(f"the page failed {max_attempts} times{last}")
        )
        return None
    now = utcnow()
    page.status, page.started_at = PageStatus.RUNNING.value, now
    page.claimed_by = worker
    if job.status == JobStatus.QUEUED:
        job.status, job.started_at = JobStatus.RUNNING.value, now
    waited = (now - page.created_at).total_seconds()
    return PageClaim(job_id, index, page.image_key, page.attempts, waited, job.model_choice)


def _held_by_another(page: Page, worker: str | None, lease_seconds: float | None) -> bool:
    if page.status != PageStatus.RUNNING or page.claimed_by in (None, worker):
        return False
    if lease_seconds is None or page.started_at is None:
        return False
    return (utcnow() - page.started_at).total_seconds() < lease_seconds


def still_ours(page: Page, worker: str | None) -> bool:
    """Whether a named worker's claim on the page stands: a page handed back while its
    worker was only slow (requeued, or claimed by another) is no longer its to finish."""
    if worker is None:
        return True
    return page.status == PageStatus.RUNNING and page.claimed_by == worker


def record_page_result(
    session: Session,
    job_id: str,
    index: int,
    result: PageOcr,
    model: str,
    worker: str | None = None,
) -> bool:
    """Store a page's result unless it already has one, or the page was handed back from
    ``worker`` meanwhile; returns whether it was written."""
    job = lock_job(session, job_id)
    page = get_page(session, job_id, index)
    if job is None or page is None or PageStatus(page.status).terminal:
        return False
    if not still_ours(page, worker):
        log.warning(
            "page %s/%s was handed back from %s; its result is dropped", job_id, index, worker
        )
        return False
    page.status = PageStatus.SUCCEEDED.value
    page.width, page.height = result.width, result.height
    page.text = result.text
    page.lines = [line.as_dict() for line in result.lines]
    page.model = model
    page.error_code = page.error_message = None
    page.finished_at = utcnow()
    job.model = model
    refresh_job(session, job)
    return True


def record_page_failure(
    session: Session, job_id: str, index: int, error: QuireError, worker: str | None = None
) -> bool:
    """Fail a page with the error's code unless it already finished (or was handed back)."""
    job = lock_job(session, job_id)
    page = get_page(session, job_id, index)
    if job is None or page is None or PageStatus(page.status).terminal:
        return False
    if not still_ours(page, worker):
        return False
    fail_page(session, job, page, error)
    return True


def note_page_error(session: Session, job_id: str, index: int, message: str) -> None:
    """Remember a retryable error, so an exhausted page can say what went wrong."""
    page = get_page(session, job_id, index)
    if page is not None and not PageStatus(page.status).terminal:
        page.status = PageStatus.QUEUED.value
        page.error_message = message[:2000]


def fail_page(session: Session, job: Job, page: Page, error: QuireError) -> None:
    page.status = PageStatus.FAILED.value
    page.error_code, page.error_message = error.code, error.message[:2000]
    page.finished_at = utcnow()
    refresh_job(session, job)


def fail_job(session: Session, job: Job, error: QuireError) -> None:
    """End a job before it has pages (the document could not be split)."""
    finish_job(session, job, JobStatus.FAILED, error.code, error.message)


def fail_unfinished_job(session: Session, job_id: str, error: QuireError) -> None:
    """Fail a job whose preparation gave up, unless it ended meanwhile (a canceled job
    stays canceled)."""
    job = lock_job(session, job_id)
    if job is not None and not JobStatus(job.status).terminal:
        fail_job(session, job, error)


def refresh_job(session: Session, job: Job) -> None:
    """Recompute the job's counters from its pages; end the job when no page is pending."""
    session.flush()
    counts = dict(
        session.execute(
            select(Page.status, func.count()).where(Page.job_id == job.id).group_by(Page.status)
        ).all()
    )
    done = counts.get(PageStatus.SUCCEEDED.value, 0)
    failed = counts.get(PageStatus.FAILED.value, 0)
    job.pages_done, job.pages_failed = done, failed
    if JobStatus(job.status).terminal or done + failed < job.pages_total:
        return
    code = message = None
    if failed:
        first = session.scalar(
            select(Page)
            .where(Page.job_id == job.id, Page.status == PageStatus.FAILED.value)
            .order_by(Page.index)
            .limit(1)
        )
        if first is not None:
            code, message = first.error_code, f"page {first.index}: {first.error_message}"
    finish_job(session, job, final_status(done, failed), code, message)


def final_status(done: int, failed: int) -> JobStatus:
    """A finished job's status from its page counts."""
    if failed == 0:
        return JobStatus.SUCCEEDED
    return JobStatus.FAILED if done == 0 else JobStatus.PARTIAL
