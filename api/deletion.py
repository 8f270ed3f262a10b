"""Delete a job or a batch: its rows and every object it stored, with a purge receipt.

What still runs is canceled first (pages and ingest stop at their next boundary); then
``shared.purge`` removes the objects, the rows, and the objects once more for what a worker
stored while it was stopping, and writes a receipt with reason ``delete``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import Batch, BatchStatus, JobStatus
from shared.db.session import transaction
from shared.errors import NotFound
from shared.lifecycle import cancel_batch, cancel_job, lock_job
from shared.purge import PurgeReason, PurgeRequest, purge_batch, purge_job
from shared.storage import ObjectStore

DELETE = PurgeRequest(PurgeReason.DELETE)


def delete_job(sessions: sessionmaker[Session], store: ObjectStore, job_id: str) -> None:
    """Cancel the job if it still runs, then remove its objects and rows.

    Raises:
        NotFound: The job is gone (deleted by a concurrent request, say).
    """
    with transaction(sessions) as session:
        job = lock_job(session, job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if not JobStatus(job.status).terminal:
            cancel_job(session, job)
    purge_job(sessions, store, job_id, DELETE)


def delete_batch(sessions: sessionmaker[Session], store: ObjectStore, batch_id: str) -> None:
    """Cancel the batch if it still runs, then remove its jobs' and its own objects and rows.

    Raises:
        NotFound: The batch is gone (deleted by a concurrent request, say).
    """
    with transaction(sessions) as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id!r}")
        if not BatchStatus(batch.status).terminal:
            cancel_batch(session, batch_id)
    purge_batch(sessions, store, batch_id, DELETE)
