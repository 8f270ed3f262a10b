"""Webhook events written to the outbox in the transaction that ends a job."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from shared.batches import BatchCounts
from shared.db.models import Batch, Job, Training, WebhookDelivery, WebhookSecret, utcnow
from shared.secret_box import SecretBox, is_sealed
from shared.webhook_signing import generate_secret

JOB_COMPLETED = "job.completed"
BATCH_COMPLETED = "batch.completed"
TRAINING_COMPLETED = "training.completed"


def job_completed_payload(job: Job) -> dict[str, object]:
    """What a receiver gets: the job's outcome and a link to its result, not the result.

    ``result_url`` is stored as a path; delivery prefixes the public base URL.
    """
    error = {"code": job.error_code, "message": job.error_message} if job.error_code else None
    return {
        "type": JOB_COMPLETED,
        "timestamp": utcnow().isoformat(),
        "data": {
            "job_id": job.id,
            "status": job.status,
            "pages_total": job.pages_total,
            "pages_done": job.pages_done,
            "pages_failed": job.pages_failed,
            "error": error,
            "batch_id": job.batch_id,
            "metadata": job.metadata_,
            "result_url": f"/v1/jobs/{job.id}/result",
        },
    }


def record_job_completed(session: Session, job: Job) -> WebhookDelivery | None:
    """Add the ``job.completed`` outbox row if the job asked for a callback.

    Call it in the transaction that makes the job terminal; the unique (job, event)
    constraint makes a second row for the same job impossible.
    """
    if not job.callback_url or _already_recorded(
        session, WebhookDelivery.job_id == job.id, JOB_COMPLETED
    ):
        return None
    return _add_outbox_row(
        session,
        WebhookDelivery(
            tenant_id=job.tenant_id,
            event_type=JOB_COMPLETED,
            job_id=job.id,
            batch_id=job.batch_id,
            url=job.callback_url,
        ),
        job_completed_payload(job),
    )


def batch_completed_payload(batch: Batch, counts: BatchCounts) -> dict[str, object]:
    """The batch's outcome and counts, with a link to its export."""
    error = {"code": batch.error_code, "message": batch.error_message} if batch.error_code else None
    return {
        "type": BATCH_COMPLETED,
        "timestamp": utcnow().isoformat(),
        "data": {
            "batch_id": batch.id,
            "status": batch.status,
            "items_total": batch.items_total,
            "items_skipped": batch.items_skipped,
            "jobs": counts.jobs,
            "pages_total": counts.pages_total,
            "pages_done": counts.pages_done,
            "pages_failed": counts.pages_failed,
            "error": error,
            "metadata": batch.metadata_,
            "result_url": f"/v1/batches/{batch.id}/export",
        },
    }


def record_batch_completed(
    session: Session, batch: Batch, counts: BatchCounts
) -> WebhookDelivery | None:
    """Add the ``batch.completed`` outbox row if the batch asked for a callback; the unique
    (batch, event) constraint makes a second one impossible."""
    if not batch.callback_url or _already_recorded(
        session, WebhookDelivery.batch_id == batch.id, BATCH_COMPLETED
    ):
        return None
    return _add_outbox_row(
        session,
        WebhookDelivery(
            tenant_id=batch.tenant_id,
            event_type=BATCH_COMPLETED,
            batch_id=batch.id,
            url=batch.callback_url,
        ),
        batch_completed_payload(batch, counts),
    )


def record_training_completed(session: Session, training: Training) -> WebhookDelivery | None:
    """Add the ``training.completed`` outbox row if the training asked for a callback; call
    it in the one transaction that makes the training terminal (its status guards it)."""
    if not training.callback_url:
        return None
    error = (
        {"code": training.error_code, "message": training.error_message}
        if training.error_code
        else None
    )
    payload = {
        "type": TRAINING_COMPLETED,
        "timestamp": utcnow().isoformat(),
        "data": {
            "training_id": training.id,
            "status": training.status,
            "stopped": training.stopped,
            "epochs": training.epoch,
            "model_id": training.model_id,
            "error": error,
            "training_url": f"/v1/trainings/{training.id}",
        },
    }
    delivery = WebhookDelivery(
        tenant_id=training.tenant_id, event_type=TRAINING_COMPLETED, url=training.callback_url
    )
    return _add_outbox_row(session, delivery, payload)


def _add_outbox_row(
    session: Session, delivery: WebhookDelivery, payload: dict[str, Any]
) -> WebhookDelivery:
    # The id is the Standard Webhooks ``webhook-id``: the same on every retry of the event.
    delivery.id = f"msg_{uuid.uuid4().hex}"
    delivery.payload = json.dumps(payload, separators=(",", ":"))
    session.add(delivery)
    return delivery


def _already_recorded(session: Session, owner: ColumnElement[bool], event: str) -> bool:
    # A job or batch that ends again (after retry-failed) keeps its one completion event.
    found = session.scalar(
        select(WebhookDelivery.id).where(owner, WebhookDelivery.event_type == event).limit(1)
    )
    return found is not None


def valid_secrets(session: Session, tenant_id: str, box: SecretBox) -> list[str]:
    """The tenant's secrets that may sign now, newest first (created if none exists)."""
    now = utcnow()
    rows = session.scalars(
        select(WebhookSecret)
        .where(WebhookSecret.tenant_id == tenant_id)
        .order_by(WebhookSecret.created_at.desc())
    ).all()
    valid = [_open(box, r) for r in rows if r.expires_at is None or r.expires_at > now]
    return valid or [ensure_secret(session, tenant_id, box)]


def ensure_secret(session: Session, tenant_id: str, box: SecretBox) -> str:
    """The tenant's current secret, created on first use."""
    current = session.scalar(
        select(WebhookSecret)
        .where(WebhookSecret.tenant_id == tenant_id, WebhookSecret.expires_at.is_(None))
        .order_by(WebhookSecret.created_at.desc())
        .limit(1)
    )
    if current is not None:
        return _open(box, current)
    return _new_secret(session, tenant_id, box)


def rotate_secret(
    session: Session, tenant_id: str, overlap_hours: float, box: SecretBox
) -> tuple[str, datetime]:
    """A new current secret; the old ones stay valid for ``overlap_hours``."""
    expires = utcnow() + timedelta(hours=overlap_hours)
    for row in session.scalars(
        select(WebhookSecret).where(
            WebhookSecret.tenant_id == tenant_id, WebhookSecret.expires_at.is_(None)
        )
    ):
        row.expires_at = expires
    return _new_secret(session, tenant_id, box), expires


def _new_secret(session: Session, tenant_id: str, box: SecretBox) -> str:
    plain = generate_secret()
    session.add(WebhookSecret(tenant_id=tenant_id, secret=box.seal(plain)))
    session.flush()
    return plain


def _open(box: SecretBox, row: WebhookSecret) -> str:
    plain = box.open(row.secret)
    if not is_sealed(row.secret):  # stored before secrets were sealed: seal it now
        row.secret = box.seal(plain)
    return plain
