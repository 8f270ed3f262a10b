"""Per-tenant backpressure: refuse new work while a tenant has too much in flight.

Only new submissions are refused; work already accepted stays queued and runs. Both counts
come from the database (the system of record) in one statement over the tenant's queued and
running jobs (a partial index holds just those): jobs in flight, and their pages not yet
finished from the counters the workers keep on each job (``pages_total`` is set once a job
is split, so a job being split counts all its pages at once). Two submissions racing past
the check can overshoot a limit by one request's worth: the limit is a brake, not a quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from shared.db.models import JOBS_IN_FLIGHT, Job
from shared.db.session import connection
from shared.errors import TenantLimitReached
from shared.settings import Settings

# Work in flight drains in seconds to minutes; polling sooner only adds load.
TENANT_LIMIT_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class InFlight:
    """A tenant's unfinished work."""

    jobs: int
    pages: int


def in_flight(engine: Engine, tenant_id: str) -> InFlight:
    """The tenant's queued and running jobs, and their pages not yet finished."""
    unfinished = Job.pages_total - Job.pages_done - Job.pages_failed
    query = select(func.count(), func.coalesce(func.sum(unfinished), 0)).where(
        Job.tenant_id == tenant_id, Job.status.in_(JOBS_IN_FLIGHT)
    )
    with connection(engine, autocommit=True) as conn:
        jobs, pages = conn.execute(query).one()
    return InFlight(jobs=int(jobs), pages=int(pages))


def check_tenant_capacity(
    engine: Engine, tenant_id: str, settings: Settings, new_jobs: int = 1
) -> None:
    """Refuse a submission of ``new_jobs`` jobs that would pass the tenant's limits.

    Raises:
        TenantLimitReached: the jobs or pages in flight are at the limit (429).
    """
    max_jobs, max_pages = settings.tenant_max_jobs_in_flight, settings.tenant_max_pages_in_flight
    if not max_jobs and not max_pages:
        return
    now = in_flight(engine, tenant_id)
    if max_jobs and now.jobs + new_jobs > max_jobs:
        raise _refused(f"{max_jobs} jobs in flight")
    # A new job's page count is known only once it is split: refuse at the limit.
    if max_pages and now.pages >= max_pages:
        raise _refused(f"{max_pages} pages in flight")


def _refused(what: str) -> TenantLimitReached:
    return TenantLimitReached(
        f"the tenant already has {what}, its limit; work already accepted goes on, "
        "submit more once some of it has finished",
        retry_after=TENANT_LIMIT_RETRY_AFTER_S,
    )
