"""Delete a job or a batch: its rows and every object it stored.

The order keeps workers from leaving anything behind: what still runs is canceled first
(pages and ingest stop at their next boundary), then the objects go, then the rows, then the
objects once more for what a worker stored while it was stopping. A worker that stores an
object checks its job or batch row after the write and removes the object if the row is
gone, so an object written after the last pass is removed by its writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

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
    Upload,
    WebhookAttempt,
    WebhookDelivery,
)
from shared.db.session import transaction
from shared.errors import NotFound, QuireError
from shared.lifecycle import cancel_batch, cancel_job, lock_batch, lock_job, refresh_batch
from shared.objectkeys import batch_prefix, job_prefix, upload_prefix
from shared.storage import ObjectStore

log = logging.getLogger("quire.api")


@dataclass(frozen=True)
class StoredObjects:
    """Where a job's or batch's objects are: whole prefixes, and keys outside them."""

    prefixes: tuple[str, ...]
    keys: tuple[str, ...] = ()

    def remove(self, store: ObjectStore) -> None:
        """Delete every object under the prefixes, and the loose keys."""
        for prefix in self.prefixes:
            store.delete_prefix(prefix)
        for key in self.keys:
            store.delete(key)

    def remove_quietly(self, store: ObjectStore) -> None:
        """The second pass: the rows are gone already, so a failure is only logged."""
        try:
            self.remove(store)
        except QuireError as e:
            log.warning("second pass over deleted objects failed: %s", e)


def outside(prefixes: Iterable[str], keys: Iterable[str]) -> tuple[str, ...]:
    """The keys that no prefix covers."""
    folders = tuple(f"{p}/" for p in prefixes)
    return tuple(sorted({k for k in keys if not k.startswith(folders)}))


def delete_job(sessions: sessionmaker[Session], store: ObjectStore, job_id: str) -> None:
    """Cancel the job if it still runs, then remove its objects and rows.

    Raises:
        NotFound: The job is gone (deleted by a concurrent request, say).
    """
    with transaction(sessions) as session:
        job = lock_job(session, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        was_running = not JobStatus(job.status).terminal
        if was_running:
            cancel_job(session, job)
        objects = _job_objects(session, job)
    objects.remove(store)
    with transaction(sessions) as session:
        job = lock_job(session, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        _delete_job_rows(session, job)
    if was_running:
        objects.remove_quietly(store)


def _job_objects(session: Session, job: Job) -> StoredObjects:
    prefix = job_prefix(job.tenant_id, job.id)
    image_keys = session.scalars(select(Page.image_key).where(Page.job_id == job.id)).all()
    return StoredObjects((prefix,), outside([prefix], [job.source_key, *image_keys]))


def _delete_job_rows(session: Session, job: Job) -> None:
    """The job, its pages, its batch item, its webhook events and its idempotency key."""
    _delete_deliveries(session, WebhookDelivery.job_id == job.id)
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id == job.id))
    session.execute(delete(Page).where(Page.job_id == job.id))
    batch_id = job.batch_id
    session.execute(delete(Job).where(Job.id == job.id))
    if batch_id is None:
        return
    items = session.scalar(select(func.count()).where(BatchItem.job_id == job.id)) or 0
    session.execute(delete(BatchItem).where(BatchItem.job_id == job.id))
    batch = lock_batch(session, batch_id)  # after the job: the workers' lock order
    if batch is not None:
        batch.items_total = max(batch.items_total - int(items), 0)
        refresh_batch(session, batch_id)


def delete_batch(sessions: sessionmaker[Session], store: ObjectStore, batch_id: str) -> None:
    """Cancel the batch if it still runs, then remove its jobs' and its own objects and rows.

    Raises:
        NotFound: The batch is gone (deleted by a concurrent request, say).
    """
    with transaction(sessions) as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r}")
        was_running = not BatchStatus(batch.status).terminal
        if was_running:
            cancel_batch(session, batch_id)
    with transaction(sessions) as session:
        objects = _batch_objects(session, batch_id)
    objects.remove(store)
    with transaction(sessions) as session:
        _delete_batch_rows(session, batch_id)
    if was_running:
        objects.remove_quietly(store)


def _batch_objects(session: Session, batch_id: str) -> StoredObjects:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}")
    jobs = session.execute(
        select(Job.id, Job.tenant_id, Job.source_key).where(Job.batch_id == batch_id)
    ).all()
    images = session.scalars(
        select(Page.image_key).join(Job, Job.id == Page.job_id).where(Job.batch_id == batch_id)
    ).all()
    prefixes = [batch_prefix(batch.tenant_id, batch.id)]
    prefixes += [job_prefix(tenant_id, job_id) for job_id, tenant_id, _ in jobs]
    keys = [source for _, _, source in jobs] + list(images)
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


def _delete_batch_rows(session: Session, batch_id: str) -> None:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}")
    upload = _sole_upload(session, batch)
    # Jobs locked before their pages, as the workers do (a page task may still be landing).
    session.scalars(select(Job.id).where(Job.batch_id == batch_id).with_for_update()).all()
    job_ids = select(Job.id).where(Job.batch_id == batch_id).scalar_subquery()
    _delete_deliveries(
        session, or_(WebhookDelivery.batch_id == batch_id, WebhookDelivery.job_id.in_(job_ids))
    )
    session.execute(
        delete(IdempotencyKey).where(
            or_(IdempotencyKey.resource_id == batch_id, IdempotencyKey.resource_id.in_(job_ids))
        )
    )
    session.execute(delete(Page).where(Page.job_id.in_(job_ids)))
    session.execute(delete(Job).where(Job.batch_id == batch_id))
    session.execute(delete(BatchItem).where(BatchItem.batch_id == batch_id))
    if upload is not None:
        session.delete(upload)
    session.delete(batch)


def _delete_deliveries(session: Session, owner: ColumnElement[bool]) -> None:
    """Webhook events carry the job's metadata: they go with it, attempts first."""
    ids = select(WebhookDelivery.id).where(owner).scalar_subquery()
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(delete(WebhookDelivery).where(owner))
