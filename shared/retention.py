"""Retention: how long a tenant's finished jobs and batches are kept, and which are due.

The default is ``QUIRE_RETENTION_DAYS`` (0 keeps everything); a tenant's own
``retention_days`` overrides it (0 keeps that tenant's work forever, None follows the
default). A job or batch is due once it has been finished for longer than its tenant's
period; work that is queued or running never is. A job of a batch goes with its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from shared.db.models import Batch, BatchStatus, Job, JobStatus, Tenant
from shared.errors import InvalidRequest, NotFound
from shared.lifecycle import PENDING_JOB_STATUSES

FINISHED_JOB_STATUSES = tuple(s.value for s in JobStatus if s.terminal)
FINISHED_BATCH_STATUSES = tuple(s.value for s in BatchStatus if s.terminal)
MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True)
class TenantRetention:
    """A tenant's effective period: ``days`` is None when its work is kept forever."""

    tenant_id: str
    days: int | None
    from_default: bool


def effective_days(own_days: int | None, default_days: int) -> int | None:
    """The period that applies: the tenant's own, else the default; None (or 0) is forever."""
    days = default_days if own_days is None else own_days
    return days or None


def retention_of(tenant: Tenant, default_days: int) -> TenantRetention:
    """The tenant's effective retention and where it comes from."""
    return TenantRetention(
        tenant.id,
        effective_days(tenant.retention_days, default_days),
        tenant.retention_days is None,
    )


def cutoff(days: int, now: datetime) -> datetime:
    """Work finished before this moment is due."""
    return now - timedelta(days=days)


def is_due(status: str, finished_at: datetime | None, days: int | None, now: datetime) -> bool:
    """Whether a job (or batch) in ``status`` that finished at ``finished_at`` is due."""
    if days is None or finished_at is None or status not in FINISHED_JOB_STATUSES:
        return False
    return finished_at < cutoff(days, now)


def policies(session: Session, default_days: int) -> list[TenantRetention]:
    """The tenants whose work expires at all, with their periods."""
    rows = session.execute(select(Tenant.id, Tenant.retention_days).order_by(Tenant.id)).all()
    found = [TenantRetention(t, effective_days(own, default_days), own is None) for t, own in rows]
    return [policy for policy in found if policy.days is not None]


def due_jobs(session: Session, tenant_id: str, before: datetime, limit: int) -> Sequence[str]:
    """Ids of the tenant's jobs outside batches that finished before ``before``, oldest first."""
    return session.scalars(
        select(Job.id)
        .where(
            Job.tenant_id == tenant_id,
            Job.batch_id.is_(None),
            Job.status.in_(FINISHED_JOB_STATUSES),
            Job.finished_at < before,
        )
        .order_by(Job.finished_at)
        .limit(limit)
    ).all()


def due_batches(session: Session, tenant_id: str, before: datetime, limit: int) -> Sequence[str]:
    """Ids of the tenant's batches that finished before ``before`` with no job pending."""
    pending = exists().where(Job.batch_id == Batch.id, Job.status.in_(PENDING_JOB_STATUSES))
    return session.scalars(
        select(Batch.id)
        .where(
            Batch.tenant_id == tenant_id,
            Batch.status.in_(FINISHED_BATCH_STATUSES),
            Batch.finished_at < before,
            ~pending,
        )
        .order_by(Batch.finished_at)
        .limit(limit)
    ).all()


def parse_days(text: str) -> int | None:
    """``--days`` of ``quire tenants retention``: N days, ``none`` (forever: 0) or
    ``default`` (follow ``QUIRE_RETENTION_DAYS``: None).

    Raises:
        InvalidRequest: Anything else, or a number out of range.
    """
    word = text.strip().lower()
    if word == "default":
        return None
    if word in ("none", "forever", "0"):
        return 0
    if not word.isdigit() or not 1 <= int(word) <= MAX_RETENTION_DAYS:
        raise InvalidRequest(
            f"retention must be 1..{MAX_RETENTION_DAYS} days, 'none' or 'default', not {text!r}"
        )
    return int(word)


def set_retention(session: Session, tenant_name: str, days: int | None) -> Tenant:
    """Give the tenant its own retention (0: forever) or, with None, the default.

    Raises:
        NotFound: No tenant has that name.
    """
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name).with_for_update())
    if tenant is None:
        raise NotFound(f"no tenant {tenant_name!r}")
    tenant.retention_days = days
    return tenant
