"""The sweeper: a periodic pass that hands due work to the queues.

Every ``QUIRE_SWEEP_INTERVAL_SECONDS`` it sends webhook deliveries whose ``next_attempt_at``
has come. A claimed delivery gets a lease (its next attempt moves past the attempt's
timeout), so a worker that dies while sending it loses nothing: when the lease runs out the
sweeper sends it again. Every ``QUIRE_RECLAIM_INTERVAL_SECONDS`` the pages of a GPU worker
whose heartbeat stopped go back to the queue at once (``worker/reclaim.py``). Every
``QUIRE_RECONCILE_INTERVAL_SECONDS`` it reconciles the broker with the database
(``worker/reconcile.py``): work the database records but Redis lost (a restart, a flush, an
enqueue that failed at submit) is sent again, pages whose worker vanished are requeued or
dead-lettered, and trainings nobody runs are sent again (``worker/training_reconcile.py``).
Every ``QUIRE_PURGE_INTERVAL_SECONDS`` it purges finished work past its tenant's retention
(``worker/retention_purge.py``), a bounded slice at a time, the next slice at once while more
is due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy import select

from shared.db.models import DeliveryStatus, WebhookDelivery, utcnow
from shared.db.session import transaction
from shared.errors import QuireError
from shared.queues import DELIVER_WEBHOOK, TASK_QUEUES, deliver_webhook_payload
from worker.context import WorkerContext
from worker.reclaim import reclaim_once
from worker.reconcile import reconcile_once
from worker.retention_purge import purge_expired
from worker.training_reconcile import reconcile_trainings

log = logging.getLogger("quire.sweeper")
CLAIM_LIMIT = 200
LEASE_MARGIN_SECONDS = 5.0


def claim_due_deliveries(ctx: WorkerContext) -> list[str]:
    """Ids of due pending deliveries, leased so no other sweep claims them meanwhile."""
    now = utcnow()
    # Long enough for one attempt (connect plus read timeouts) to finish.
    lease = timedelta(seconds=2 * ctx.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    with transaction(ctx.sessions) as session:
        due = session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(CLAIM_LIMIT)
            .with_for_update(skip_locked=True)
        ).all()
        for delivery in due:
            delivery.next_attempt_at = now + lease
        return [d.id for d in due]


def sweep_once(ctx: WorkerContext) -> int:
    """One pass; returns how many deliveries were handed to the CPU queue."""
    ids = claim_due_deliveries(ctx)
    for delivery_id in ids:
        ctx.producer.send_task(
            DELIVER_WEBHOOK,
            kwargs=deliver_webhook_payload(delivery_id),
            queue=TASK_QUEUES[DELIVER_WEBHOOK],
        )
    return len(ids)


def run_sweeper(
    ctx: WorkerContext, stop: threading.Event, clock: Callable[[], float] = time.monotonic
) -> None:
    """Sweep every ``QUIRE_SWEEP_INTERVAL_SECONDS``, reconcile every
    ``QUIRE_RECONCILE_INTERVAL_SECONDS`` and purge expired work every
    ``QUIRE_PURGE_INTERVAL_SECONDS`` (the first of each right away) until ``stop`` is set;
    outages of the database, broker or store are logged and waited out."""
    next_reconcile = next_purge = next_reclaim = clock()
    while not stop.is_set():
        _guarded("sweep", lambda: _sweep_and_log(ctx))
        if clock() >= next_reclaim:
            _guarded("reclaim", lambda: reclaim_once(ctx))
            next_reclaim = clock() + ctx.settings.reclaim_interval_seconds
        if clock() >= next_reconcile:
            _guarded("reconcile", lambda: reconcile_once(ctx))
            _guarded("training reconcile", lambda: reconcile_trainings(ctx))
            next_reconcile = clock() + ctx.settings.reconcile_interval_seconds
        if clock() >= next_purge:
            more = _guarded("retention purge", lambda: purge_expired(ctx)) is True
            next_purge = clock() + (0.0 if more else ctx.settings.purge_interval_seconds)
        stop.wait(ctx.settings.sweep_interval_seconds)


def _sweep_and_log(ctx: WorkerContext) -> None:
    sent = sweep_once(ctx)
    if sent:
        log.info("handed %d webhook deliveries to the queue", sent)


def _guarded(what: str, step: Callable[[], object]) -> object:
    """The step's result; None when it failed (logged, retried on a later pass)."""
    try:
        return step()
    except (QuireError, KombuOperationalError, RedisError, OSError) as e:
        log.warning("%s failed, will retry: %s", what, e)
        return None
