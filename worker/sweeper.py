"""The sweeper: a periodic pass that hands due work to the queues.

Today it sends webhook deliveries whose ``next_attempt_at`` has come. A claimed delivery gets
a lease (its next attempt moves past the attempt's timeout), so a worker that dies while
sending it loses nothing: when the lease runs out the sweeper sends it again.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy import select

from shared.db.models import DeliveryStatus, WebhookDelivery, utcnow
from shared.db.session import transaction
from shared.errors import QuireError
from shared.queues import DELIVER_WEBHOOK, TASK_QUEUES, deliver_webhook_payload
from worker.context import WorkerContext

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


def run_sweeper(ctx: WorkerContext, stop: threading.Event) -> None:
    """Sweep every ``QUIRE_SWEEP_INTERVAL_SECONDS`` until ``stop`` is set; outages of the
    database or broker are logged and waited out."""
    while not stop.is_set():
        try:
            sent = sweep_once(ctx)
            if sent:
                log.info("handed %d webhook deliveries to the queue", sent)
        except (QuireError, KombuOperationalError, RedisError, OSError) as e:
            log.warning("sweep failed, will retry: %s", e)
        stop.wait(ctx.settings.sweep_interval_seconds)
