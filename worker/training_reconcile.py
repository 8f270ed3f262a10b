"""The sweeper's training pass: send ``run_training`` again for trainings nobody runs.

A training's lease, not the broker, says whether it runs, so the pass is simpler than the page
reconcile: a queued training older than ``stale_after_seconds`` and a running one whose lease
lapsed (its worker died, or Redis lost its message) get a message, unless one already waits in
the ``train`` queue. A message too many is harmless: the lease claim drops it. Datasets stuck
importing for as long get their ``import_dataset`` again (the import is idempotent).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from sqlalchemy import or_, select

from shared.db.models import Dataset, DatasetStatus, Training, TrainingStatus, utcnow
from shared.db.session import transaction
from shared.queue_depth import queue_keys
from shared.queues import (
    IMPORT_DATASET,
    RUN_TRAINING,
    TASK_QUEUES,
    TRAIN_QUEUE,
    import_dataset_payload,
    run_training_payload,
)
from shared.redis_client import redis_from_url
from worker.context import WorkerContext
from worker.reconcile import decode_message

log = logging.getLogger("quire.reconcile")
LIMIT = 100


def waiting_trainings(client: redis.Redis) -> set[str]:
    """Ids of the trainings whose message waits in the ``train`` queue."""
    waiting: set[str] = set()
    for key in queue_keys(TRAIN_QUEUE):
        for raw in client.lrange(key, 0, -1):
            decoded = decode_message(raw)
            if decoded is not None and decoded[0] == RUN_TRAINING:
                training_id = decoded[1].get("training_id")
                if isinstance(training_id, str):
                    waiting.add(training_id)
    return waiting


def reconcile_trainings(ctx: WorkerContext, client: redis.Redis | None = None) -> int:
    """One pass; returns how many messages were sent."""
    client = client or redis_from_url(ctx.settings.broker_url)
    now = utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.stale_after_seconds)
    with transaction(ctx.sessions) as session:
        lost = list(
            session.scalars(
                select(Training.id)
                .where(
                    or_(
                        (Training.status == TrainingStatus.QUEUED.value)
                        & (Training.created_at < cutoff),
                        (Training.status == TrainingStatus.RUNNING.value)
                        & (Training.lease_expires_at < now),
                    )
                )
                .order_by(Training.created_at)
                .limit(LIMIT)
            )
        )
        importing = list(
            session.scalars(
                select(Dataset.id)
                .where(Dataset.status == DatasetStatus.IMPORTING.value, Dataset.created_at < cutoff)
                .order_by(Dataset.created_at)
                .limit(LIMIT)
            )
        )
    waiting = waiting_trainings(client) if lost else set()
    sent = 0
    for training_id in lost:
        if training_id not in waiting:
            ctx.producer.send_task(
                RUN_TRAINING, kwargs=run_training_payload(training_id), queue=TRAIN_QUEUE
            )
            sent += 1
    for dataset_id in importing:
        ctx.producer.send_task(
            IMPORT_DATASET,
            kwargs=import_dataset_payload(dataset_id),
            queue=TASK_QUEUES[IMPORT_DATASET],
        )
        sent += 1
    if sent:
        log.info("reconcile: sent %d training and dataset messages again", sent)
    return sent
