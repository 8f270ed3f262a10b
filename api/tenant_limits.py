"""Per-tenant backpressure: refuse new work while a tenant has too much in flight.

Only new submissions are refused; work already accepted stays queued and runs. Both counts
come from the database (the system of record) in one statement over the tenant's queued and
running jobs (a partial index holds just those): jobs in flight, and their pages not yet
finished from the counters the workers keep on each job (``pages_total`` is set once a job
is split, so a job being split counts all its pages at once).

The exact count matters only near a limit: each API process keeps a tenant's last count for
a second, adds what it admitted since, and trusts that estimate while it stays below 90 %
of both limits; closer to a limit every submission counts again. So a tenant far from its
limits costs no query per submission, and one at its limit is refused on a fresh count.
Submissions racing past the check (in one process or several) can overshoot a limit by a
few requests' worth: the limit is a brake, not a quota.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, func, select

from shared.db.models import JOBS_IN_FLIGHT, Job
from shared.db.session import connection
from shared.errors import TenantLimitReached
from shared.settings import Settings

# Work in flight drains in seconds to minutes; polling sooner only adds load.
TENANT_LIMIT_RETRY_AFTER_S = 30
ESTIMATE_SECONDS = 1.0
TRUSTED_SHARE = 0.9


@dataclass(frozen=True)
class InFlight:
    """A tenant's unfinished work."""

    jobs: int
    pages: int


# Built once, the tenant as a parameter: its compiled form is cached.
IN_FLIGHT_QUERY = select(
    func.count(), func.coalesce(func.sum(Job.pages_total - Job.pages_done - Job.pages_failed), 0)
).where(Job.tenant_id == bindparam("tenant_id"), Job.status.in_(JOBS_IN_FLIGHT))


def in_flight(engine: Engine, tenant_id: str) -> InFlight:
    """The tenant's queued and running jobs, and their pages not yet finished."""
    with connection(engine, autocommit=True) as conn:
        jobs, pages = conn.execute(IN_FLIGHT_QUERY, {"tenant_id": tenant_id}).one()
    return InFlight(jobs=int(jobs), pages=int(pages))


class InFlightEstimates:
    """Each tenant's last count of work in flight plus what this process admitted since,
    for ``ttl`` seconds after the count."""

    def __init__(
        self, ttl: float = ESTIMATE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._counts: dict[str, tuple[float, InFlight]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> InFlight | None:
        """The estimate, or None once the count is older than ``ttl``."""
        with self._lock:
            entry = self._counts.get(tenant_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def counted(self, tenant_id: str, now: InFlight) -> None:
        """Start a new estimate from a fresh count."""
        with self._lock:
            self._counts[tenant_id] = (self._clock() + self.ttl, now)

    def admitted(self, tenant_id: str, jobs: int) -> None:
        """Add jobs just admitted (a page each at least) to the estimate."""
        with self._lock:
            entry = self._counts.get(tenant_id)
            if entry is not None:
                counts = entry[1]
                self._counts[tenant_id] = (
                    entry[0],
                    InFlight(counts.jobs + jobs, counts.pages + jobs),
                )


def far_below_limits(now: InFlight, new_jobs: int, settings: Settings) -> bool:
    """Whether an estimate is far enough below both limits to be trusted."""
    max_jobs, max_pages = settings.tenant_max_jobs_in_flight, settings.tenant_max_pages_in_flight
    jobs_ok = not max_jobs or now.jobs + new_jobs <= TRUSTED_SHARE * max_jobs
    pages_ok = not max_pages or now.pages < TRUSTED_SHARE * max_pages
    return jobs_ok and pages_ok


def admitted_by_estimate(
    tenant_id: str, settings: Settings, estimates: InFlightEstimates, new_jobs: int = 1
) -> bool:
    """Admit a submission without a query: the limits are off, or a recent count is far
    below them (the jobs are then added to it). False: only a fresh count can decide."""
    if not settings.tenant_max_jobs_in_flight and not settings.tenant_max_pages_in_flight:
        return True
    now = estimates.get(tenant_id)
    if now is None or not far_below_limits(now, new_jobs, settings):
        return False
    estimates.admitted(tenant_id, new_jobs)
    return True


def check_tenant_capacity(
    engine: Engine,
    tenant_id: str,
    settings: Settings,
    new_jobs: int = 1,
    estimates: InFlightEstimates | None = None,
) -> None:
    """Refuse a submission of ``new_jobs`` jobs that would pass the tenant's limits.

    With ``estimates``, a recent count is used instead of a query while it is far below
    the limits (``admitted_by_estimate``), and the admitted jobs are added to it.

    Raises:
        TenantLimitReached: the jobs or pages in flight are at the limit (429).
    """
    max_jobs, max_pages = settings.tenant_max_jobs_in_flight, settings.tenant_max_pages_in_flight
    if not max_jobs and not max_pages:
        return
    if estimates is not None and admitted_by_estimate(tenant_id, settings, estimates, new_jobs):
        return
    now = in_flight(engine, tenant_id)
    if estimates is not None:
        estimates.counted(tenant_id, now)
    if max_jobs and now.jobs + new_jobs > max_jobs:
        raise _refused(f"{max_jobs} jobs in flight")
    # A new job's page count is known only once it is split: refuse at the limit.
    if max_pages and now.pages >= max_pages:
        raise _refused(f"{max_pages} pages in flight")
    if estimates is not None:
        estimates.admitted(tenant_id, new_jobs)


def _refused(what: str) -> TenantLimitReached:
    return TenantLimitReached(
        f"the tenant already has {what}, its limit; work already accepted goes on, "
        "submit more once some of it has finished",
        retry_after=TENANT_LIMIT_RETRY_AFTER_S,
    )
