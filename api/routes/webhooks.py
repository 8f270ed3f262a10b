"""``/v1/webhook-deliveries`` and ``/v1/webhook-secret``: the delivery log, replays, secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.routes.jobs import PROBLEMS
from shared.db.models import DeliveryStatus, WebhookDelivery, utcnow
from shared.errors import NotFound
from shared.secret_box import SecretBox
from shared.webhook_events import ensure_secret, rotate_secret

router = APIRouter(prefix="/v1", tags=["webhooks"])
MAX_PAGE = 200


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    """One webhook event for one endpoint; ``id`` is the ``webhook-id`` header."""

    id: str
    event_type: str
    job_id: str | None
    batch_id: str | None
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class SecretOut(BaseModel):
    secret: str


class RotatedSecretOut(SecretOut):
    previous_valid_until: datetime


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_type=delivery.event_type,
        job_id=delivery.job_id,
        batch_id=delivery.batch_id,
        url=delivery.url,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempt_log=[
            AttemptOut(
                number=a.number,
                at=a.at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in delivery.attempt_log
        ],
    )


@router.get(
    "/webhook-deliveries",
    response_model=DeliveryList,
    responses=PROBLEMS,
    summary="List webhook deliveries",
)
def list_deliveries(
    tenant: CurrentTenant,
    session: SessionDep,
    job_id: Annotated[str | None, Query()] = None,
    batch_id: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> DeliveryList:
    """Newest first, with every attempt's status code or error and the next attempt's time."""
    query = select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant.id)
    if job_id:
        query = query.where(WebhookDelivery.job_id == job_id)
    if batch_id:
        query = query.where(WebhookDelivery.batch_id == batch_id)
    rows = session.scalars(query.order_by(WebhookDelivery.created_at.desc()).limit(limit))
    return DeliveryList(items=[delivery_out(d) for d in rows])


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=PROBLEMS,
    summary="Send a delivery again",
)
def redeliver(delivery_id: str, tenant: CurrentTenant, session: SessionDep) -> DeliveryOut:
    """Queue the same event (same ``webhook-id``) again, whatever its state."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.tenant_id != tenant.id:
        raise NotFound(f"no webhook delivery {delivery_id!r}")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    return delivery_out(delivery)


@router.get(
    "/webhook-secret",
    response_model=SecretOut,
    responses=PROBLEMS,
    summary="The webhook signing secret",
)
def get_secret(tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> SecretOut:
    """The current ``whsec_`` secret your receiver verifies signatures with."""
    return SecretOut(secret=ensure_secret(session, tenant.id, SecretBox(settings.secret_key)))


@router.post(
    "/webhook-secret/rotate",
    response_model=RotatedSecretOut,
    responses=PROBLEMS,
    summary="Rotate the webhook signing secret",
)
def rotate(tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> RotatedSecretOut:
    """A new secret; until ``previous_valid_until`` deliveries carry both signatures."""
    secret, expires = rotate_secret(
        session, tenant.id, settings.webhook_secret_rotation_hours, SecretBox(settings.secret_key)
    )
    return RotatedSecretOut(secret=secret, previous_valid_until=expires)
