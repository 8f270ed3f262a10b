"""Per-tenant backpressure: refuse new work while a tenant has too much in flight.

Only new submissions are refused; work already accepted stays queued and runs. The counts
are read from the database (the system of record), one query each. Two submissions racing
past the check can overshoot a limit by one request's worth: the limit is a brake, not a
quota.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import Job, JobStatus, Page, PageStatus
from shared.db.session import transaction
from shared.errors import TenantLimitReached
from shared.settings import Settings

# Work in flight drains in seconds to minutes; polling sooner only adds load.
TENANT_LIMIT_RETRY_AFTER_S = 30
JOBS_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
PAGES_IN_FLIGHT = (PageStatus.QUEUED.value, PageStatus.RUNNING.value)


def jobs_in_flight(session: Session, tenant_id: str) -> int:
    """The tenant's queued and running jobs."""
    query = select(func.count()).select_from(Job)
    query = query.where(Job.tenant_id == tenant_id, Job.status.in_(JOBS_IN_FLIGHT))
    return int(session.scalar(query) or 0)


def pages_in_flight(session: Session, tenant_id: str) -> int:
    """The tenant's queued and running pages."""
    query = select(func.count()).select_from(Page).join(Job, Job.id == Page.job_id)
    query = query.where(Job.tenant_id == tenant_id, Page.status.in_(PAGES_IN_FLIGHT))
    return int(session.scalar(query) or 0)


def check_tenant_capacity(
    sessions: sessionmaker[Session], tenant_id: str, settings: Settings, new_jobs: int = 1
) -> None:
    """Refuse a submission of ``new_jobs`` jobs that would pass the tenant's limits.

    Raises:
        TenantLimitReached: the jobs or pages in flight are at the limit (429).
    """
    max_jobs, max_pages = settings.tenant_max_jobs_in_flight, settings.tenant_max_pages_in_flight
    if not max_jobs and not max_pages:
        return
    with transaction(sessions) as session:
        if max_jobs and jobs_in_flight(session, tenant_id) + new_jobs > max_jobs:
            raise _refused(f"{max_jobs} jobs in flight")
        # A new job's page count is known only once it is split: refuse at the limit.
        if max_pages and pages_in_flight(session, tenant_id) >= max_pages:
            raise _refused(f"{max_pages} pages in flight")


def _refused(what: str) -> TenantLimitReached:
    return TenantLimitReached(
        f"the tenant already has {what}, its limit; work already accepted goes on, "
        "submit more once some of it has finished",
        retry_after=TENANT_LIMIT_RETRY_AFTER_S,
    )
