"""Purge a job or a batch: every object it stored, its rows, and a receipt of what went.

``DELETE`` purges with reason ``delete`` (after the API canceled what still ran); the
sweeper's retention pass purges finished work with reason ``retention`` (see
``shared.retention``). The order keeps workers from leaving anything behind: the objects go,
then the rows, then the objects once more for what a worker stored meanwhile. A worker that
stores an object checks its job or batch row after the write and removes the object if the
row is gone or has ended, so an object written after the last pass is removed by its writer.

A batch goes in chunks of jobs, each in transactions of its own, so a batch of a hundred
thousand documents never holds one long transaction. The batch row goes last; until then an
interrupted purge is resumed by the next one, into the same receipt. The receipt holds
counts and the SHA-256 of each removed object's key: never a key, a name or any content.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import (
    Batch,
    BatchItem,
    BatchStatus,
    IdempotencyKey,
    Job,
    JobStatus,
    Page,
    PurgedObject,
    PurgeReceipt,
    Upload,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from shared.db.session import transaction
from shared.errors import NotFound, QuireError
from shared.lifecycle import PENDING_JOB_STATUSES, cancel_job, lock_batch, lock_job, refresh_batch
from shared.objectkeys import batch_prefix, job_prefix, upload_prefix

log = logging.getLogger("quire.purge")
DEFAULT_CHUNK_JOBS = 100


class PurgeableStore(Protocol):
    """What a purge needs of the object store (``shared.storage.ObjectStore`` has it)."""

    def purge(self, key: str) -> bool: ...

    def purge_prefix(self, prefix: str) -> list[str]: ...


class PurgeReason(StrEnum):
    """Why data was purged, as its receipt says."""

    RETENTION = "retention"  # the tenant's retention period ran out
    DELETE = "delete"  # DELETE /v1/jobs/{id} or /v1/batches/{id}


@dataclass(frozen=True)
class PurgeRequest:
    """How to purge: why, under which policy, and how many jobs per transaction."""

    reason: PurgeReason
    retention_days: int | None = None
    chunk_jobs: int = DEFAULT_CHUNK_JOBS

    @property
    def finished_only(self) -> bool:
        """Retention never touches work that still runs; a delete cancels it first."""
        return self.reason is PurgeReason.RETENTION


def key_digest(key: str) -> str:
    """The SHA-256 (hex) of an object key, as receipts name objects."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class StoredObjects:
    """Where a job's or batch's objects are: whole prefixes, and keys outside them."""

    prefixes: tuple[str, ...]
    keys: tuple[str, ...] = ()

    def remove(self, store: PurgeableStore) -> list[str]:
        """Delete every object (every version) under the prefixes, and the loose keys;
        returns the keys removed."""
        removed = [key for prefix in self.prefixes for key in store.purge_prefix(prefix)]
        return removed + [key for key in self.keys if store.purge(key)]

    def remove_quietly(self, store: PurgeableStore) -> list[str]:
        """The second pass: the rows are gone already, so a failure is only logged."""
        try:
            return self.remove(store)
        except QuireError as e:
            log.warning("second pass over purged objects failed: %s", e)
            return []


def outside(prefixes: Iterable[str], keys: Iterable[str]) -> tuple[str, ...]:
    """The keys that no prefix covers."""
    folders = tuple(f"{p}/" for p in prefixes)
    return tuple(sorted({k for k in keys if not k.startswith(folders)}))


# --- receipts ------------------------------------------------------------------------------


def open_receipt(
    session: Session, resource: str, resource_id: str, tenant_id: str, request: PurgeRequest
) -> PurgeReceipt:
    """The unfinished receipt of this resource (an interrupted purge), or a new one.

    Call it holding the resource's row lock, so two purges never open two receipts.
    """
    receipt = session.scalar(
        select(PurgeReceipt).where(
            PurgeReceipt.resource == resource,
            PurgeReceipt.resource_id == resource_id,
            PurgeReceipt.completed_at.is_(None),
        )
    )
    if receipt is None:
        receipt = PurgeReceipt(
            tenant_id=tenant_id,
            resource=resource,
            resource_id=resource_id,
            reason=request.reason.value,
            retention_days=request.retention_days,
            requested_at=utcnow(),
            objects_deleted=0,
            jobs_deleted=0,
            pages_deleted=0,
        )
        session.add(receipt)
        session.flush()
    return receipt


def record_objects(session: Session, receipt: PurgeReceipt, keys: Iterable[str]) -> None:
    """Add the hashes of removed objects' keys to the receipt."""
    digests = sorted({key_digest(key) for key in keys})
    session.add_all(PurgedObject(receipt_id=receipt.id, key_sha256=d) for d in digests)
    receipt.objects_deleted += len(digests)


def _record_late(
    sessions: sessionmaker[Session], receipt_id: str, late: Sequence[str], seen: Sequence[str]
) -> None:
    """Objects the second pass found (a worker stored them meanwhile) join the receipt."""
    new = set(late) - set(seen)
    if not new:
        return
    with transaction(sessions) as session:
        receipt = session.get(PurgeReceipt, receipt_id, with_for_update=True)
        if receipt is not None:
            record_objects(session, receipt, new)


# --- one job --------------------------------------------------------------------------------


def purge_job(
    sessions: sessionmaker[Session], store: PurgeableStore, job_id: str, request: PurgeRequest
) -> str | None:
    """Remove a job's objects and rows, and write its receipt.

    Returns:
        The receipt's id; None when a retention purge found the job running (it stays).

    Raises:
        NotFound: The job is gone (purged by a concurrent request, say).
    """
    with transaction(sessions) as session:
        job = _locked_job(session, job_id)
        if request.finished_only and not JobStatus(job.status).terminal:
            return None
        objects = _jobs_objects(session, [job])
    removed = objects.remove(store)
    with transaction(sessions) as session:
        job = _locked_job(session, job_id)
        if not JobStatus(job.status).terminal:  # started again since: stop its workers
            cancel_job(session, job)
        receipt = open_receipt(session, "job", job.id, job.tenant_id, request)
        receipt.pages_deleted += _delete_job_rows(session, job)
        receipt.jobs_deleted += 1
        record_objects(session, receipt, removed)
        receipt.completed_at = utcnow()
        receipt_id = receipt.id
    _record_late(sessions, receipt_id, objects.remove_quietly(store), removed)
    return receipt_id


def _locked_job(session: Session, job_id: str) -> Job:
    job = lock_job(session, job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def _jobs_objects(session: Session, jobs: Sequence[Job]) -> StoredObjects:
    prefixes = [job_prefix(job.tenant_id, job.id) for job in jobs]
    images = session.scalars(
        select(Page.image_key).where(Page.job_id.in_([job.id for job in jobs]))
    ).all()
    keys = [job.source_key for job in jobs] + list(images)
    return StoredObjects(tuple(prefixes), outside(prefixes, keys))


def _delete_job_rows(session: Session, job: Job) -> int:
    """The job with its pages, batch item, webhook events and idempotency key; returns how
    many pages went. Its batch, if any, counts one item less."""
    batch_id = job.batch_id
    items = session.scalar(select(func.count()).where(BatchItem.job_id == job.id)) or 0
    pages = _delete_jobs_rows(session, [job.id])
    if batch_id is None:
        return pages
    batch = lock_batch(session, batch_id)  # after the job: the workers' lock order
    if batch is not None:
        batch.items_total = max(batch.items_total - int(items), 0)
        refresh_batch(session, batch_id)
    return pages


def _delete_jobs_rows(session: Session, job_ids: list[str]) -> int:
    """Jobs with their pages, batch items, webhook events and idempotency keys; returns
    how many pages went."""
    pages = session.scalar(select(func.count()).where(Page.job_id.in_(job_ids))) or 0
    _delete_deliveries(session, WebhookDelivery.job_id.in_(job_ids))
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id.in_(job_ids)))
    session.execute(delete(Page).where(Page.job_id.in_(job_ids)))
    session.execute(delete(BatchItem).where(BatchItem.job_id.in_(job_ids)))
    session.execute(delete(Job).where(Job.id.in_(job_ids)))
    return int(pages)


# --- a batch --------------------------------------------------------------------------------


def purge_batch(
    sessions: sessionmaker[Session],
    store: PurgeableStore,
    batch_id: str,
    request: PurgeRequest,
    *,
    max_chunks: int | None = None,
) -> str | None:
    """Remove a batch's jobs chunk by chunk, then its own objects and rows, with a receipt.

    Args:
        sessions: The session factory.
        store: The object store.
        batch_id: The batch.
        request: Why, and how many jobs per chunk.
        max_chunks: Stop after this many chunks of jobs (the sweeper's time slice); the
            next call resumes into the same receipt.

    Returns:
        The receipt's id once the batch is gone; None when a retention purge found it still
        running, or when it stopped after ``max_chunks``.

    Raises:
        NotFound: The batch is gone (purged by a concurrent request, say).
    """
    with transaction(sessions) as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r}")
        if request.finished_only and not batch_finished(session, batch):
            return None
        tenant_id = batch.tenant_id
    chunks = 0
    while _purge_next_jobs(sessions, store, batch_id, tenant_id, request):
        chunks += 1
        if max_chunks is not None and chunks >= max_chunks:
            return None
    return _purge_batch_itself(sessions, store, batch_id, request)


def batch_finished(session: Session, batch: Batch) -> bool:
    """The batch has ended and none of its jobs is pending."""
    if not BatchStatus(batch.status).terminal:
        return False
    pending = session.scalar(
        select(Job.id)
        .where(Job.batch_id == batch.id, Job.status.in_(PENDING_JOB_STATUSES))
        .limit(1)
    )
    return pending is None


def _purge_next_jobs(
    sessions: sessionmaker[Session],
    store: PurgeableStore,
    batch_id: str,
    tenant_id: str,
    request: PurgeRequest,
) -> bool:
    """Purge up to ``chunk_jobs`` of the batch's jobs; False when none was left."""
    with transaction(sessions) as session:
        jobs = session.scalars(
            select(Job).where(Job.batch_id == batch_id).order_by(Job.id).limit(request.chunk_jobs)
        ).all()
        if not jobs:
            return False
        objects = _jobs_objects(session, jobs)
        job_ids = [job.id for job in jobs]
    removed = objects.remove(store)
    with transaction(sessions) as session:
        # Jobs before their batch, as the workers lock them.
        locked = session.scalars(
            select(Job).where(Job.id.in_(job_ids)).order_by(Job.id).with_for_update()
        ).all()
        for job in locked:
            if not JobStatus(job.status).terminal:  # retried since: stop its workers
                cancel_job(session, job, update_batch=False)
        if lock_batch(session, batch_id) is None:
            raise NotFound(f"no batch {batch_id!r}")
        receipt = open_receipt(session, "batch", batch_id, tenant_id, request)
        receipt.pages_deleted += _delete_jobs_rows(session, [job.id for job in locked])
        receipt.jobs_deleted += len(locked)
        record_objects(session, receipt, removed)
        receipt_id = receipt.id
    _record_late(sessions, receipt_id, objects.remove_quietly(store), removed)
    return True


def _purge_batch_itself(
    sessions: sessionmaker[Session], store: PurgeableStore, batch_id: str, request: PurgeRequest
) -> str:
    """The batch's own objects (its archive, its upload) and rows, once its jobs are gone."""
    with transaction(sessions) as session:
        objects = _batch_objects(session, batch_id)
    removed = objects.remove(store)
    with transaction(sessions) as session:
        # Jobs an ingest added after the last chunk: locked first, as the workers do.
        late_jobs = session.scalars(
            select(Job.id).where(Job.batch_id == batch_id).with_for_update()
        ).all()
        batch = lock_batch(session, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r}")
        receipt = open_receipt(session, "batch", batch_id, batch.tenant_id, request)
        receipt.jobs_deleted += len(late_jobs)
        receipt.pages_deleted += _delete_batch_rows(session, batch)
        record_objects(session, receipt, removed)
        receipt.completed_at = utcnow()
        receipt_id = receipt.id
    _record_late(sessions, receipt_id, objects.remove_quietly(store), removed)
    return receipt_id


def _batch_objects(session: Session, batch_id: str) -> StoredObjects:
    """The batch's own prefix, its sole upload's prefix and its archive (jobs go apart)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}")
    prefixes = [batch_prefix(batch.tenant_id, batch.id)]
    keys: list[str] = []
    upload = _sole_upload(session, batch)
    if upload is not None:
        prefixes.append(upload_prefix(upload.tenant_id, upload.id))
    if batch.source_key is not None and not _shared_source(session, batch):
        keys.append(batch.source_key)
    return StoredObjects(tuple(prefixes), outside(prefixes, keys))


def _sole_upload(session: Session, batch: Batch) -> Upload | None:
    """The presigned upload the batch's archive came from, unless another batch uses it."""
    if batch.source_key is None or _shared_source(session, batch):
        return None
    return session.scalar(
        select(Upload).where(Upload.tenant_id == batch.tenant_id, Upload.key == batch.source_key)
    )


def _shared_source(session: Session, batch: Batch) -> bool:
    other = session.scalar(
        select(Batch.id).where(Batch.source_key == batch.source_key, Batch.id != batch.id).limit(1)
    )
    return other is not None


def _delete_batch_rows(session: Session, batch: Batch) -> int:
    """The batch with what is left of it (items, jobs, events, keys, upload); returns how
    many pages went."""
    upload = _sole_upload(session, batch)
    job_ids = select(Job.id).where(Job.batch_id == batch.id).scalar_subquery()
    pages = session.scalar(select(func.count()).where(Page.job_id.in_(job_ids))) or 0
    _delete_deliveries(
        session, or_(WebhookDelivery.batch_id == batch.id, WebhookDelivery.job_id.in_(job_ids))
    )
    session.execute(
        delete(IdempotencyKey).where(
            or_(IdempotencyKey.resource_id == batch.id, IdempotencyKey.resource_id.in_(job_ids))
        )
    )
    session.execute(delete(Page).where(Page.job_id.in_(job_ids)))
    session.execute(delete(Job).where(Job.batch_id == batch.id))
    session.execute(delete(BatchItem).where(BatchItem.batch_id == batch.id))
    if upload is not None:
        session.delete(upload)
    session.delete(batch)
    return int(pages)


def _delete_deliveries(session: Session, owner: ColumnElement[bool]) -> None:
    """Webhook events carry the job's metadata: they go with it, attempts first."""
    ids = select(WebhookDelivery.id).where(owner).scalar_subquery()
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(delete(WebhookDelivery).where(owner))
