"""``Idempotency-Key`` on job and batch submission through the API in-process, on SQLite
and PostgreSQL with real Redis: replays, reuse with another request, limits, expiry, and
concurrent requests with one key."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from shared.db.models import Batch, IdempotencyKey, Job, Tenant, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from tests.batch_inputs import png_bytes, zip_of
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import sent_messages
from tests.integration.test_uploads import put_part, start

pytestmark = pytest.mark.integration


def post_job(
    client: TestClient, key: str, idem: str | None, data: bytes, **fields: str
) -> httpx.Response:
    headers = auth(key) if idem is None else {**auth(key), "Idempotency-Key": idem}
    return client.post(
        "/v1/jobs", headers=headers, files={"file": ("a.png", data, "image/png")}, data=fields
    )


def unique(name: str) -> str:
    """A tenant name of its own: the SQLite and PostgreSQL databases live for the session."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def rows(settings: Settings, model: Any, tenant: str) -> int:
    """Rows of a job, batch or key table that belong to one tenant."""
    engine = build_engine(settings.effective_database_url)
    with build_sessionmaker(engine)() as session:
        found = session.scalar(
            select(func.count())
            .select_from(model)
            .join(Tenant, Tenant.id == model.tenant_id)
            .where(Tenant.name == tenant)
        )
    engine.dispose()
    return int(found or 0)


def sources(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.effective_store_dir.rglob("source.*"))


def test_same_key_and_request_returns_the_same_job(
    client: TestClient, new_key: Callable[[str], str], settings: Settings, redis_client: redis.Redis
) -> None:
    tenant = unique("retrier")
    key, data = new_key(tenant), png_bytes("once")
    first = post_job(client, key, "order-17", data, metadata='{"n": 1}')
    again = post_job(client, key, "order-17", data, metadata='{"n": 1}')

    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert rows(settings, Job, tenant) == 1
    assert sources(settings) == ["source.png"]  # no second object stored
    assert len(sent_messages(redis_client)) == 1  # and no second enqueue


@pytest.mark.parametrize(
    ("data", "fields"),
    [(png_bytes("other"), {"metadata": '{"n": 1}'}), (png_bytes("once"), {"metadata": '{"n": 2}'})],
    ids=["other-file", "other-field"],
)
def test_same_key_with_another_request_is_409(
    client: TestClient,
    new_key: Callable[[str], str],
    settings: Settings,
    redis_client: redis.Redis,
    data: bytes,
    fields: dict[str, str],
) -> None:
    tenant = unique("reuser")
    key = new_key(tenant)
    assert post_job(client, key, "k1", png_bytes("once"), metadata='{"n": 1}').status_code == 202
    answer = post_job(client, key, "k1", data, **fields)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "idempotency_key_reused"
    assert rows(settings, Job, tenant) == 1
    assert len(sources(settings)) == 1
    assert len(sent_messages(redis_client)) == 1


def test_keys_are_per_tenant_and_at_most_255_characters(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    tenant, other = unique("alice"), unique("bob")
    alice, bob, data = new_key(tenant), new_key(other), png_bytes("x")
    longest = "k" * 255
    a = post_job(client, alice, longest, data)
    b = post_job(client, bob, longest, data)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]  # the same key of another tenant is another key
    too_long = post_job(client, alice, "k" * 256, data)
    assert too_long.status_code == 422 and too_long.json()["code"] == "invalid_request"
    assert "Idempotency-Key" in too_long.json()["detail"]
    empty = post_job(client, alice, "", data)
    assert empty.status_code == 422
    assert rows(settings, Job, tenant) == rows(settings, Job, other) == 1


def test_an_expired_key_makes_a_new_job(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    tenant = unique("expirer")
    key = new_key(tenant)
    first = post_job(client, key, "daily", png_bytes("monday")).json()
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    engine.dispose()
    second = post_job(client, key, "daily", png_bytes("tuesday"))
    assert second.status_code == 202
    assert second.json()["id"] != first["id"]
    assert rows(settings, IdempotencyKey, tenant) == 1  # the expired one was dropped


def test_deleting_the_job_frees_its_key(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    key, data = new_key(unique("deleter")), png_bytes("x")
    first = post_job(client, key, "k", data).json()
    assert client.delete(f"/v1/jobs/{first['id']}", headers=auth(key)).status_code == 204
    second = post_job(client, key, "k", data)
    assert second.status_code == 202 and second.json()["id"] != first["id"]


def gate_store_writes(client: TestClient, parties: int) -> None:
    """Hold every upload in the store until ``parties`` requests have got that far, so they
    all passed the key lookup before any of them commits."""
    store = client.app.state.quire.store  # type: ignore[attr-defined]
    barrier = threading.Barrier(parties, timeout=20)
    put_stream = store.put_stream

    def gated(*args: Any) -> None:
        barrier.wait()
        put_stream(*args)

    store.put_stream = gated


@pytest.mark.parametrize("same_body", [True, False], ids=["same-request", "other-request"])
def test_concurrent_requests_with_one_key_make_one_job(
    client: TestClient,
    new_key: Callable[[str], str],
    settings: Settings,
    redis_client: redis.Redis,
    same_body: bool,
) -> None:
    tenant = unique("racer")
    key = new_key(tenant)
    bodies = [png_bytes("race"), png_bytes("race" if same_body else "other")]
    gate_store_writes(client, parties=2)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda data: post_job(client, key, "same", data), bodies))

    assert rows(settings, Job, tenant) == 1
    assert len(sources(settings)) == 1  # the loser removed what it stored
    assert len(sent_messages(redis_client)) == 1
    codes = sorted(a.status_code for a in answers)
    if same_body:
        assert codes == [202, 202]
        assert answers[0].json()["id"] == answers[1].json()["id"]
    else:
        assert codes == [202, 409]
        assert [a.json()["code"] for a in answers if a.status_code == 409] == [
            "idempotency_key_reused"
        ]


def test_batch_submission_is_idempotent_too(
    client: TestClient, new_key: Callable[[str], str], settings: Settings, redis_client: redis.Redis
) -> None:
    tenant = unique("batcher")
    key = new_key(tenant)
    headers = {**auth(key), "Idempotency-Key": "nightly-2026-11-29"}
    archive = zip_of({"a.png": png_bytes("a"), "b.png": png_bytes("b")})

    def send(data: bytes) -> httpx.Response:
        return client.post(
            "/v1/batches", headers=headers, files={"file": ("scans.zip", data, "application/zip")}
        )

    first, again = send(archive), send(archive)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert rows(settings, Batch, tenant) == 1
    assert len(sent_messages(redis_client)) == 1
    other = send(zip_of({"c.png": png_bytes("c")}))
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    files = [("files", ("a.png", png_bytes("a"), "image/png"))]
    as_files = client.post("/v1/batches", headers=headers, files=files)
    assert as_files.status_code == 409  # the same key for another kind of batch
    assert rows(settings, Batch, tenant) == 1


def test_openapi_documents_the_header_and_the_409s(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/v1/jobs", "post"),
        ("/v1/batches", "post"),
        ("/v1/jobs/{job_id}/cancel", "post"),
        ("/v1/batches/{batch_id}/cancel", "post"),
    ]:
        assert "409" in paths[path][method]["responses"], (path, method)
    for path in ("/v1/jobs", "/v1/batches"):
        names = [p["name"] for p in paths[path]["post"]["parameters"]]
        assert "Idempotency-Key" in names
    assert "204" in paths["/v1/jobs/{job_id}"]["delete"]["responses"]
    assert "204" in paths["/v1/batches/{batch_id}"]["delete"]["responses"]
    assert "409" not in paths["/v1/jobs/{job_id}"]["get"]["responses"]
    metadata = json.dumps(paths["/v1/jobs"]["post"]["parameters"])
    assert "255" in metadata


def test_upload_batch_replays_and_its_delete_removes_the_upload(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    tenant = unique("uploader")
    key = new_key(tenant)
    data = zip_of({"a.png": png_bytes("a")})
    upload = start(client, key, data, "small.zip")
    etag = put_part(client, upload["parts"][0], data)
    parts = {"parts": [{"number": 1, "etag": etag}]}
    completed = client.post(f"/v1/uploads/{upload['id']}/complete", headers=auth(key), json=parts)
    assert completed.status_code == 200, completed.text
    headers = {**auth(key), "Idempotency-Key": "from-upload"}
    body = {"upload_id": upload["id"]}

    first = client.post("/v1/batches", headers=headers, json=body)
    again = client.post("/v1/batches", headers=headers, json=body)
    other = client.post("/v1/batches", headers=headers, json={**body, "priority": "interactive"})

    assert first.status_code == again.status_code == 202, first.text
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert rows(settings, Batch, tenant) == 1
    assert list(settings.effective_store_dir.rglob("data"))  # the uploaded archive
    deleted = client.delete(f"/v1/batches/{first.json()['id']}", headers=auth(key))
    assert deleted.status_code == 204
    assert not [p for p in settings.effective_store_dir.rglob("*") if p.is_file()]
    assert client.get(f"/v1/uploads/{upload['id']}", headers=auth(key)).status_code == 404
    assert rows(settings, IdempotencyKey, tenant) == 0
