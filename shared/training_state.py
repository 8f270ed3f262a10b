"""How a training ends, in one place for the API (a queued training canceled) and the train
worker (every other end): status, why it stopped, the error, the epochs, the lease released,
and the ``training.completed`` event in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from shared.db.models import Training, TrainingStatus, utcnow
from shared.webhook_events import record_training_completed


def finish_training(
    session: Session,
    training: Training,
    status: TrainingStatus,
    stopped: str | None = None,
    error: tuple[str, str] | None = None,
    epochs: Sequence[dict[str, Any]] | None = None,
) -> None:
    """Make the training terminal; call it once, in the transaction that ends it."""
    training.status, training.stopped = status.value, stopped
    if error is not None:
        training.error_code, training.error_message = error
    if epochs:
        training.epochs = list(epochs)
        training.epoch = int(epochs[-1]["epoch"])
    training.lease_owner, training.lease_expires_at = None, None
    training.finished_at = utcnow()
    record_training_completed(session, training)
