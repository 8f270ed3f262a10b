"""Webhook outbox and delivery against real databases and a real HTTP receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from shared.celery_config import build_celery
from shared.db.models import (
    DisabledEndpoint,
    Job,
    JobStatus,
    Page,
    WebhookDelivery,
    WebhookSecret,
    utcnow,
)
from shared.db.session import transaction
from shared.secret_box import SecretBox
from shared.settings import Settings
from shared.tenancy import ensure_tenant
from shared.webhook_events import ensure_secret, rotate_secret
from tests.fakes import fake_engine, striped_page
from tests.webhook_receiver import Answer, Receiver
from worker.context import WorkerContext
from worker.job_state import finish_job, record_page_result
from worker.webhook_delivery import deliver_webhook

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(
    make_settings: Callable[..., Settings], database_url: str, redis_url: str
) -> Iterator[WorkerContext]:
    settings = make_settings(
        database_url=database_url,
        redis_url=redis_url,
        webhook_allow_http=True,
        webhook_allow_loopback=True,
        webhook_retry_schedule="0,0,0",
        webhook_timeout_seconds=2,
        public_base_url="https://ocr.example.org",
    )
    context = WorkerContext.build(settings, producer=build_celery(settings))
    context._engine = fake_engine()
    yield context
    context.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def finished_job(ctx: WorkerContext, url: str, tenant: str = "hooks") -> str:
    """A job that ends now, with ``url`` as its callback; returns its delivery id."""
    with transaction(ctx.sessions) as session:
        owner = ensure_tenant(session, tenant)
        job = Job(
            tenant_id=owner.id,
            source_key="k",
            media_type="image/png",
            callback_url=url,
            metadata_={"shelf": "B2"},
        )
        session.add(job)
        session.flush()
        finish_job(session, job, JobStatus.SUCCEEDED)
        job_id = job.id
    return delivery_of(ctx, job_id).id


def delivery_of(ctx: WorkerContext, job_id: str) -> WebhookDelivery:
    with ctx.sessions() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id))
        found = list(rows)
        assert len(found) == 1
        for row in found:
            _ = row.attempt_log
        return found[0]


def load(ctx: WorkerContext, delivery_id: str) -> WebhookDelivery:
    with ctx.sessions() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        _ = delivery.attempt_log
        return delivery


def test_one_event_per_job_even_when_the_last_page_is_recorded_twice(ctx: WorkerContext) -> None:
    with transaction(ctx.sessions) as session:
        owner = ensure_tenant(session, "hooks")
        job = Job(
            tenant_id=owner.id,
            source_key="k",
            media_type="image/png",
            callback_url="http://127.0.0.1:9/hook",
            pages_total=1,
        )
        session.add(job)
        session.flush()
        session.add(Page(job_id=job.id, index=0, image_key="k"))
        job_id = job.id
    result = ctx.engine.run([striped_page([20])])[0]
    for _ in range(2):  # a redelivered page task
        with transaction(ctx.sessions) as session:
            record_page_result(session, job_id, 0, result, "fake")
    with ctx.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.job_id == job_id)
        )
    assert count == 1


def box(ctx: WorkerContext) -> SecretBox:
    return SecretBox(ctx.settings.secret_key)


def test_delivery_is_signed_and_verifies(ctx: WorkerContext, receiver: Receiver) -> None:
    delivery_id = finished_job(ctx, receiver.url)
    deliver_webhook(ctx, delivery_id)
    (got,) = receiver.wait_for(1)
    with ctx.sessions() as session:
        secret = ensure_secret(session, load(ctx, delivery_id).tenant_id, box(ctx))
    event = Webhook(secret).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == delivery_id
    assert event["type"] == "job.completed"
    assert event["data"]["status"] == "succeeded"
    assert event["data"]["metadata"] == {"shelf": "B2"}
    assert event["data"]["result_url"].startswith("https://ocr.example.org/v1/jobs/")
    row = load(ctx, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)


def test_failures_retry_with_the_same_webhook_id(ctx: WorkerContext) -> None:
    receiver = Receiver([Answer(500), Answer(503, {"Retry-After": "0"})])
    try:
        delivery_id = finished_job(ctx, receiver.url)
        for _ in range(3):
            deliver_webhook(ctx, delivery_id)
        got = receiver.wait_for(3)
    finally:
        receiver.close()
    assert {r.headers["webhook-id"] for r in got} == {delivery_id}
    row = load(ctx, delivery_id)
    assert row.status == "delivered"
    assert [a.status_code for a in row.attempt_log] == [500, 503, 200]


def test_schedule_used_up_fails_the_delivery(ctx: WorkerContext) -> None:
    receiver = Receiver(default=Answer(500))
    try:
        delivery_id = finished_job(ctx, receiver.url)
        for _ in range(6):
            deliver_webhook(ctx, delivery_id)
        assert len(receiver.received) == 4  # first try + 3 scheduled retries
    finally:
        receiver.close()
    row = load(ctx, delivery_id)
    assert row.status == "failed" and row.next_attempt_at is None


def test_429_retry_after_pushes_the_next_attempt(ctx: WorkerContext) -> None:
    receiver = Receiver([Answer(429, {"Retry-After": "120"})])
    try:
        delivery_id = finished_job(ctx, receiver.url)
        deliver_webhook(ctx, delivery_id)
    finally:
        receiver.close()
    row = load(ctx, delivery_id)
    assert row.status == "pending" and row.next_attempt_at is not None
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=110)


def test_410_disables_the_endpoint(ctx: WorkerContext) -> None:
    receiver = Receiver([Answer(410)])
    try:
        first = finished_job(ctx, receiver.url)
        deliver_webhook(ctx, first)
        second = finished_job(ctx, receiver.url)
        deliver_webhook(ctx, second)
        assert len(receiver.received) == 1  # nothing more goes to a gone endpoint
    finally:
        receiver.close()
    assert load(ctx, first).status == "disabled"
    assert load(ctx, second).status == "disabled"
    with ctx.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(DisabledEndpoint)
                .where(DisabledEndpoint.url == receiver.url)
            )
            == 1
        )


def test_rotation_signs_with_both_secrets(ctx: WorkerContext, receiver: Receiver) -> None:
    delivery_id = finished_job(ctx, receiver.url, tenant="rotating")
    tenant_id = load(ctx, delivery_id).tenant_id
    with transaction(ctx.sessions) as session:
        old = ensure_secret(session, tenant_id, box(ctx))
        new, _ = rotate_secret(session, tenant_id, 1, box(ctx))
    deliver_webhook(ctx, delivery_id)
    (got,) = receiver.wait_for(1)
    for secret in (old, new):
        Webhook(secret).verify(got.body, got.headers)


@pytest.mark.parametrize(
    ("url", "overrides", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", {}, "link-local"),
        ("http://10.1.2.3/hook", {}, "private"),
        ("http://2130706433/hook", {"webhook_allow_loopback": False}, "loopback"),
        ("http://0177.0.0.1/hook", {"webhook_allow_loopback": False}, "loopback"),
        ("http://localhost:9/hook", {"webhook_allow_loopback": False}, "loopback"),
        ("http://[::ffff:169.254.169.254]/", {}, "link-local"),
        ("http://example.org/hook", {"webhook_allow_http": False}, "https"),
    ],
    ids=[
        "metadata",
        "private",
        "decimal-ip",
        "octal-ip",
        "name-to-loopback",
        "mapped-v6",
        "plain-http",
    ],
)
def test_ssrf_targets_are_refused_with_a_reason(
    ctx: WorkerContext, url: str, overrides: dict[str, object], reason: str
) -> None:
    ctx.settings = ctx.settings.model_copy(update=overrides)
    delivery_id = finished_job(ctx, url)
    deliver_webhook(ctx, delivery_id)
    row = load(ctx, delivery_id)
    assert row.status == "failed"
    assert row.last_error is not None and row.last_error.startswith("refused")
    assert reason in row.last_error.lower()
    assert [a.error for a in row.attempt_log] == [row.last_error]


def test_redirect_to_a_private_address_is_not_followed(ctx: WorkerContext) -> None:
    target = Receiver()
    receiver = Receiver(default=Answer(302, {"Location": "http://10.0.0.1/steal"}))
    try:
        delivery_id = finished_job(ctx, receiver.url)
        deliver_webhook(ctx, delivery_id)
        assert len(receiver.received) == 1 and target.received == []
    finally:
        receiver.close()
        target.close()
    row = load(ctx, delivery_id)
    assert row.status == "pending" and row.last_status_code == 302
    assert row.last_error == "HTTP 302: redirect to http://10.0.0.1/steal not followed"


def test_payload_is_small_and_links_to_the_result(ctx: WorkerContext, receiver: Receiver) -> None:
    delivery_id = finished_job(ctx, receiver.url)
    deliver_webhook(ctx, delivery_id)
    (got,) = receiver.wait_for(1)
    assert len(got.body) < 20_000
    assert "pages" not in json.loads(got.body)["data"]  # the result is linked, not embedded


def test_secrets_are_sealed_at_rest_and_old_plain_rows_are_sealed_on_use(
    ctx: WorkerContext, receiver: Receiver
) -> None:
    delivery_id = finished_job(ctx, receiver.url, tenant="sealed")
    tenant_id = load(ctx, delivery_id).tenant_id
    with transaction(ctx.sessions) as session:
        secret = ensure_secret(session, tenant_id, box(ctx))
        # A row as written before secrets were sealed: plain text.
        session.add(WebhookSecret(tenant_id=tenant_id, secret="whsec_plainOldSecret0000000000"))
    with transaction(ctx.sessions) as session:
        stored = {r.secret for r in session.scalars(select(WebhookSecret))}
    assert secret not in " ".join(stored) and secret.removeprefix("whsec_") not in " ".join(stored)
    deliver_webhook(ctx, delivery_id)  # signs with both, sealing the plain one on the way
    (got,) = receiver.wait_for(1)
    Webhook(secret).verify(got.body, got.headers)
    Webhook("whsec_plainOldSecret0000000000").verify(got.body, got.headers)
    with transaction(ctx.sessions) as session:
        rows = session.scalars(
            select(WebhookSecret).where(WebhookSecret.tenant_id == tenant_id)
        ).all()
    assert len(rows) == 2 and all(r.secret.startswith("v1:") for r in rows)
    assert all("plainOld" not in r.secret for r in rows)
