"""Webhook routes in-process: the delivery log, replay and secrets, per tenant."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from shared.db.models import Job, JobStatus
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from shared.tenancy import ensure_tenant
from tests.integration.conftest import auth
from worker.job_state import finish_job

pytestmark = pytest.mark.integration


def ended_job_with_callback(settings: Settings, tenant: str) -> str:
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        owner = ensure_tenant(session, tenant)
        job = Job(
            tenant_id=owner.id,
            source_key="k",
            media_type="image/png",
            callback_url="https://hooks.example.org/q",
        )
        session.add(job)
        session.flush()
        finish_job(session, job, JobStatus.FAILED, "corrupt_image", "bad scan")
        job_id = job.id
    engine.dispose()
    return job_id


def test_delivery_log_and_replay_are_per_tenant(
    client: TestClient, settings: Settings, new_key: Callable[[str], str]
) -> None:
    alice, bob = new_key("wh-alice"), new_key("wh-bob")
    job_id = ended_job_with_callback(settings, "wh-alice")
    log = client.get("/v1/webhook-deliveries", params={"job_id": job_id}, headers=auth(alice))
    assert log.status_code == 200
    (item,) = log.json()["items"]
    assert item["event_type"] == "job.completed" and item["status"] == "pending"
    assert item["url"] == "https://hooks.example.org/q" and item["attempt_log"] == []

    assert (
        client.get("/v1/webhook-deliveries", params={"job_id": job_id}, headers=auth(bob)).json()[
            "items"
        ]
        == []
    )
    other = client.post(f"/v1/webhook-deliveries/{item['id']}/redeliver", headers=auth(bob))
    assert other.status_code == 404
    replay = client.post(f"/v1/webhook-deliveries/{item['id']}/redeliver", headers=auth(alice))
    assert replay.status_code == 202 and replay.json()["status"] == "pending"


def test_secrets_are_per_tenant_and_rotate(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    alice, bob = new_key("sec-alice"), new_key("sec-bob")
    first = client.get("/v1/webhook-secret", headers=auth(alice)).json()["secret"]
    assert first.startswith("whsec_")
    assert client.get("/v1/webhook-secret", headers=auth(alice)).json()["secret"] == first
    assert client.get("/v1/webhook-secret", headers=auth(bob)).json()["secret"] != first
    rotated = client.post("/v1/webhook-secret/rotate", headers=auth(alice)).json()
    assert rotated["secret"] != first and rotated["previous_valid_until"]
    assert (
        client.get("/v1/webhook-secret", headers=auth(alice)).json()["secret"]
        == (rotated["secret"])
    )


def test_webhook_routes_need_a_key(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/webhook-deliveries"),
        ("GET", "/v1/webhook-secret"),
        ("POST", "/v1/webhook-secret/rotate"),
        ("POST", "/v1/webhook-deliveries/x/redeliver"),
    ]:
        assert client.request(method, path).status_code == 401
