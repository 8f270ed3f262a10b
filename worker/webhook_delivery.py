"""``deliver_webhook`` (CPU queue): send one outbox row, record the attempt, plan the next.

Retries are scheduled in the database (``next_attempt_at``) and picked up by the sweeper, not
held as Celery countdowns. Only 2xx is success; 410 disables the endpoint; 429/503 honour
``Retry-After``; everything else retries on the schedule until it is used up.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import (
    DeliveryStatus,
    DisabledEndpoint,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from shared.db.session import transaction
from shared.egress import Reply, policy_from_settings, post_json, resolve_target
from shared.errors import CallbackRefused, DeliveryFailed
from shared.secret_box import SecretBox
from shared.settings import Settings
from shared.webhook_events import valid_secrets
from shared.webhook_signing import signature_headers
from worker.context import WorkerContext

log = logging.getLogger("quire.webhooks")
MAX_RETRY_AFTER = timedelta(days=1)
JITTER = 0.2


@dataclass(frozen=True)
class Outgoing:
    """A signed request ready to send, built inside a transaction."""

    url: str
    body: bytes
    headers: dict[str, str]
    attempt: int


def deliver_webhook(ctx: WorkerContext, delivery_id: str) -> None:
    """Make one attempt at a pending delivery."""
    with transaction(ctx.sessions) as session:
        outgoing = _prepare(session, ctx.settings, delivery_id)
    if outgoing is None:
        return
    started = time.monotonic()
    reply: Reply | None = None
    error: str | None = None
    refused = False
    try:
        target = resolve_target(outgoing.url, policy_from_settings(ctx.settings))
        reply = post_json(
            target, outgoing.body, outgoing.headers, policy_from_settings(ctx.settings)
        )
    except CallbackRefused as e:
        error, refused = f"refused: {e.message}", True
    except DeliveryFailed as e:
        error = e.message
    elapsed_ms = int((time.monotonic() - started) * 1000)
    with transaction(ctx.sessions) as session:
        _record(
            session, ctx.settings, delivery_id, outgoing.attempt, reply, error, refused, elapsed_ms
        )


def _prepare(session: Session, settings: Settings, delivery_id: str) -> Outgoing | None:
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    if _endpoint_disabled(session, delivery):
        delivery.status = DeliveryStatus.DISABLED.value
        delivery.last_error = "endpoint disabled after 410 Gone"
        return None
    delivery.attempts += 1
    body = _absolute_links(delivery.payload, settings.public_base_url)
    headers = signature_headers(
        delivery.id,
        int(time.time()),
        body,
        valid_secrets(session, delivery.tenant_id, SecretBox(settings.secret_key)),
    )
    headers["content-type"] = "application/json"
    headers["user-agent"] = "quire-webhooks/1"
    return Outgoing(delivery.url, body, headers, delivery.attempts)


def _absolute_links(payload: str, base_url: str) -> bytes:
    document = json.loads(payload)
    data = document.get("data", {})
    if str(data.get("result_url", "")).startswith("/"):
        data["result_url"] = base_url.rstrip("/") + data["result_url"]
    return json.dumps(document, separators=(",", ":")).encode()


def _endpoint_disabled(session: Session, delivery: WebhookDelivery) -> bool:
    return (
        session.scalar(
            select(DisabledEndpoint.id).where(
                DisabledEndpoint.tenant_id == delivery.tenant_id,
                DisabledEndpoint.url == delivery.url,
            )
        )
        is not None
    )


def _record(
    session: Session,
    settings: Settings,
    delivery_id: str,
    attempt: int,
    reply: Reply | None,
    error: str | None,
    refused: bool,
    elapsed_ms: int,
) -> None:
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        return
    status_code = reply.status if reply is not None else None
    if reply is not None and not 200 <= reply.status < 300:
        error = f"HTTP {reply.status}"
        if 300 <= reply.status < 400:
            error += f": redirect to {reply.headers.get('location', '?')[:200]} not followed"
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            number=attempt,
            status_code=status_code,
            error=error,
            duration_ms=elapsed_ms,
        )
    )
    delivery.last_status_code, delivery.last_error = status_code, error
    if delivery.status != DeliveryStatus.PENDING:
        return
    outcome = classify(reply, refused)
    if outcome == "delivered":
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED.value, utcnow()
        delivery.next_attempt_at = None
    elif outcome == "gone":
        delivery.status, delivery.next_attempt_at = DeliveryStatus.DISABLED.value, None
        _disable_endpoint(session, delivery, "the receiver answered 410 Gone")
    elif outcome == "refused":
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
    else:
        delivery.next_attempt_at = next_attempt(settings.retry_schedule, attempt, reply, utcnow())
        if delivery.next_attempt_at is None:
            delivery.status = DeliveryStatus.FAILED.value
    log.info("delivery %s attempt %d: %s (%s)", delivery_id, attempt, outcome, status_code or error)


def classify(reply: Reply | None, refused: bool) -> str:
    """delivered, gone, refused, or retry."""
    if refused:
        return "refused"
    if reply is None:
        return "retry"
    if 200 <= reply.status < 300:
        return "delivered"
    return "gone" if reply.status == 410 else "retry"


def next_attempt(
    schedule: list[float],
    attempts: int,
    reply: Reply | None,
    now: datetime,
    rand: random.Random | None = None,
) -> datetime | None:
    """When to try again after ``attempts`` tries, or None when the schedule is used up.

    The schedule's delay gets +-20 % jitter; a 429 or 503 with ``Retry-After`` waits at
    least that long (capped at a day).
    """
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (1 + (rand or random).uniform(-JITTER, JITTER))
    if reply is not None and reply.status in (429, 503):
        delay = max(delay, retry_after_seconds(reply.headers.get("retry-after")))
    return now + min(timedelta(seconds=delay), MAX_RETRY_AFTER)


def retry_after_seconds(value: str | None) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds form); 0 when absent or odd."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return 0.0


def _disable_endpoint(session: Session, delivery: WebhookDelivery, reason: str) -> None:
    exists = _endpoint_disabled(session, delivery)
    if not exists:
        session.add(DisabledEndpoint(tenant_id=delivery.tenant_id, url=delivery.url, reason=reason))
