"""A training's lease in the database: who runs it and until when.

The broker's message only says "look at this training"; the lease decides who runs it. A
worker claims a queued training, or a running one whose lease lapsed (its worker died), and
renews the lease every third of its length from a heartbeat thread. A redelivered message for
a training whose lease is alive is dropped, so a live training never runs twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import Training, TrainingStatus, utcnow
from shared.db.session import transaction

log = logging.getLogger("quire.trainings")


@dataclass(frozen=True)
class Claim:
    training_id: str
    owner: str
    attempt: int


def claim(
    session: Session, training_id: str, owner: str, lease_seconds: int
) -> tuple[Training, Claim] | None:
    """Take the training's lease; None when it is finished or another worker holds it."""
    training = session.get(Training, training_id, with_for_update=True)
    if training is None or TrainingStatus(training.status).terminal:
        return None
    now = utcnow()
    held = training.lease_expires_at is not None and training.lease_expires_at > now
    if held and training.lease_owner != owner:
        log.info("training %s is leased to %s; message dropped", training_id, training.lease_owner)
        return None
    training.attempts += 1
    training.status = TrainingStatus.RUNNING.value
    training.lease_owner = owner
    training.lease_expires_at = now + timedelta(seconds=lease_seconds)
    training.started_at = training.started_at or now
    return training, Claim(training_id, owner, training.attempts)


def renew(sessions: sessionmaker[Session], held: Claim, lease_seconds: int) -> tuple[bool, bool]:
    """Extend the lease; returns (still ours, cancel requested)."""
    with transaction(sessions) as session:
        renewed = session.execute(
            update(Training)
            .where(Training.id == held.training_id, Training.lease_owner == held.owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount  # type: ignore[attr-defined]
        training = session.get(Training, held.training_id)
        canceled = training is not None and training.cancel_requested
    return bool(renewed), canceled


def held_on_host(sessions: sessionmaker[Session], host: str) -> int:
    """Trainings running under a lease of a process on ``host`` (``runner.worker_name``)."""
    with transaction(sessions) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Training)
                .where(
                    Training.status == TrainingStatus.RUNNING.value,
                    Training.lease_owner.like(f"{host}-%"),
                )
            )
            or 0
        )


class Heartbeat:
    """Renews the lease in the background; ``stop_reason`` is set when the run must stop."""

    def __init__(self, sessions: sessionmaker[Session], held: Claim, lease_seconds: int):
        self.sessions, self.held, self.lease_seconds = sessions, held, lease_seconds
        self.stop_reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="training-lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Once now, in the caller's thread (between epochs)."""
        self._once()

    def _beat(self) -> None:
        while not self._done.wait(self.lease_seconds / 3):
            self._once()

    def _once(self) -> None:
        try:
            ours, canceled = renew(self.sessions, self.held, self.lease_seconds)
        except Exception as e:  # the database may be down for a moment; the lease has slack
            log.warning("training %s: lease renewal failed: %s", self.held.training_id, e)
            return
        if not ours:
            self.stop_reason = "lease_lost"
        elif canceled:
            self.stop_reason = "canceled"
