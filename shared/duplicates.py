"""Duplicate uploads: the earlier job of a tenant with the same bytes, and reusing its result.

A file is known by the SHA-256 of its bytes as received, before any preprocessing (a
rewritten copy must not hide a match), and only ever compared with the same tenant's jobs.
The earlier job that counts is the newest succeeded one whose every page still has its
result: a failed, partial, canceled or unfinished job never counts, nor one whose pages a
deletion or purge removed, so a file that matches only such jobs is processed as new.

A reusing job copies the earlier job's page rows (text, lines, sizes, model) and keeps its
own copy of the uploaded file, so deleting or purging the earlier job leaves it whole;
``duplicate_of`` keeps the earlier job's id, which may then name a job that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import Job, JobStatus, Page, PageStatus, utcnow
from shared.errors import InvalidRequest
from shared.lifecycle import finish_job
from shared.settings import DuplicatePolicy

# Succeeded jobs with the hash looked at, newest first: re-submissions under ``process`` can
# pile up, and a reusable one is nearly always among the newest.
CANDIDATE_LIMIT = 20
_NAMES = [f"'{p.value}'" for p in DuplicatePolicy]
POLICY_NAMES = f"{', '.join(_NAMES[:-1])} or {_NAMES[-1]}"


def parse_policy(value: str | None, default: DuplicatePolicy) -> DuplicatePolicy:
    """The ``on_duplicate`` a request asks for; ``default`` (the setting) when it is silent.

    Raises:
        InvalidRequest: The value is not a policy's name.
    """
    if not value:
        return default
    try:
        return DuplicatePolicy(value)
    except ValueError as e:
        raise InvalidRequest(f"on_duplicate must be {POLICY_NAMES}") from e


@dataclass(frozen=True)
class Candidate:
    """An earlier job with the same content hash, as far as choosing one needs."""

    job_id: str
    tenant_id: str
    status: str
    created_at: datetime
    pages_total: int
    pages_with_results: int

    @property
    def reusable(self) -> bool:
        """Succeeded, and every one of its pages still has its result."""
        complete = self.pages_total > 0 and self.pages_with_results == self.pages_total
        return self.status == JobStatus.SUCCEEDED and complete


def choose_earlier(tenant_id: str, candidates: Iterable[Candidate]) -> str | None:
    """The id of the newest reusable candidate of ``tenant_id``; None if there is none."""
    mine = [c for c in candidates if c.tenant_id == tenant_id and c.reusable]
    newest = max(mine, key=lambda c: (c.created_at, c.job_id), default=None)
    return newest.job_id if newest is not None else None


def decide(policy: DuplicatePolicy, earlier_id: str | None) -> DuplicatePolicy:
    """What a submission does: its policy when an earlier job counts, else ``process``."""
    return DuplicatePolicy.PROCESS if earlier_id is None else policy


def load_candidates(session: Session, tenant_id: str, content_sha256: str) -> list[Candidate]:
    """The tenant's newest succeeded jobs with this hash, with their pages that have text."""
    with_results = (
        select(func.count())
        .where(
            Page.job_id == Job.id,
            Page.status == PageStatus.SUCCEEDED.value,
            Page.text.is_not(None),
        )
        .correlate(Job)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Job.id, Job.tenant_id, Job.status, Job.created_at, Job.pages_total, with_results)
        .where(
            Job.tenant_id == tenant_id,
            Job.content_sha256 == content_sha256,
            Job.status == JobStatus.SUCCEEDED.value,
        )
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(CANDIDATE_LIMIT)
    ).all()
    return [Candidate(*row) for row in rows]


def find_earlier_job(session: Session, tenant_id: str, content_sha256: str | None) -> str | None:
    """The earlier job of the tenant whose result a file with this hash may reuse."""
    if content_sha256 is None:
        return None
    return choose_earlier(tenant_id, load_candidates(session, tenant_id, content_sha256))


def reuse_result(session: Session, job: Job, earlier_id: str, *, update_batch: bool) -> bool:
    """Add ``job`` (new, its source stored) as a copy of the earlier job's result: it is
    succeeded at once, its ``job.completed`` event written, and no task is needed.

    Args:
        session: The open transaction the job is inserted in.
        job: The new job, not yet added to the session.
        earlier_id: The job ``find_earlier_job`` chose.
        update_batch: Passed to ``finish_job`` (False while a batch is still being filled).

    Returns:
        False, adding nothing, when the earlier job no longer has its whole result (it was
        deleted or purged since it was chosen): the caller then processes the job as new.
    """
    earlier = session.get(Job, earlier_id)
    if earlier is None or earlier.status != JobStatus.SUCCEEDED:
        return False
    pages = session.scalars(
        select(Page)
        .where(
            Page.job_id == earlier_id,
            Page.status == PageStatus.SUCCEEDED.value,
            Page.text.is_not(None),
        )
        .order_by(Page.index)
    ).all()
    if not pages or len(pages) != earlier.pages_total:
        return False
    now = utcnow()
    job.duplicate_of, job.model = earlier.id, earlier.model
    job.pages_total = job.pages_done = len(pages)
    job.pages_failed, job.started_at = 0, now
    session.add(job)
    session.add_all(copied_page(page, job, now) for page in pages)
    session.flush()
    finish_job(session, job, JobStatus.SUCCEEDED, update_batch=update_batch)
    return True


def copied_page(page: Page, job: Job, now: datetime) -> Page:
    """A finished page of ``job`` with ``page``'s result; its image is the job's own file
    (the earlier job's page images are its own and go when it goes)."""
    return Page(
        job_id=job.id,
        index=page.index,
        status=PageStatus.SUCCEEDED.value,
        image_key=job.source_key,
        width=page.width,
        height=page.height,
        text=page.text,
        lines=[dict(line) for line in page.lines or []],
        model=page.model,
        attempts=0,
        created_at=now,
        started_at=now,
        finished_at=now,
    )
