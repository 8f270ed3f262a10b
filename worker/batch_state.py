"""Batch state transitions: a batch ends when its archive is read and its last job ends.

Lock order is job row, then batch row (``finish_job`` calls ``refresh_batch``), so the batch
is locked last everywhere.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.batches import batch_counts, final_status
from shared.db.models import Batch, BatchStatus, utcnow
from shared.webhook_events import record_batch_completed

NO_DOCUMENTS = "no_documents"


def lock_batch(session: Session, batch_id: str) -> Batch | None:
    """The batch row, locked for this transaction (a no-op lock on SQLite)."""
    return session.get(Batch, batch_id, with_for_update=True, populate_existing=True)


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
    record_batch_completed(session, batch, batch_counts(session, batch.id))
