"""Security review: tenant isolation on every id route, hashed keys, tenant-bound object keys,
no secrets in logs, and form limits; through the API in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from shared.apikeys import hash_key
from shared.celery_config import build_celery
from shared.db.models import (
    ApiKey,
    Base,
    DeliveryStatus,
    Job,
    JobStatus,
    Page,
    PageStatus,
    Upload,
    WebhookDelivery,
)
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.key_scopes import ALL_SCOPES
from shared.secret_box import SecretBox
from shared.settings import Settings
from shared.tenancy import ensure_tenant, issue_api_key
from shared.webhook_events import ensure_secret
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import png, sent_messages
from tests.webhook_receiver import Receiver
from worker.context import WorkerContext
from worker.job_state import finish_job
from worker.webhook_delivery import deliver_webhook

pytestmark = pytest.mark.integration


@pytest.fixture
def sessions(settings: Settings) -> Iterator[Any]:
    engine = build_engine(settings.effective_database_url)
    yield build_sessionmaker(engine)
    engine.dispose()


# --- tenant isolation on every route that takes an id --------------------------------------


@dataclass
class Owned:
    """Resources of tenant A, by the path parameter that names them."""

    ids: dict[str, str]
    part_query: dict[str, str]  # a signed part URL's query, for the upload tenant B owns


# Extra request parts a route needs to get past validation, so that only ownership decides.
REQUEST_EXTRAS: dict[tuple[str, str], Callable[[Owned], dict[str, Any]]] = {
    ("POST", "/v1/uploads/{upload_id}/complete"): lambda _: {
        "json": {"parts": [{"number": 1, "etag": '"x"'}]}
    },
    ("PUT", "/v1/uploads/{upload_id}/parts/{number}"): lambda owned: {
        "params": owned.part_query,
        "content": b"x",
    },
    ("PATCH", "/v1/jobs/{job_id}/pages/{page_index}/lines/{line_index}"): lambda _: {
        "json": {"text": "corrected"}
    },
    ("POST", "/v1/jobs/{job_id}/pages/{page_index}/review"): lambda _: {"json": {}},
}
# Not key-authenticated: the signed URL is the credential, and B can only hold signatures for
# its own uploads, so A's upload id with B's signature is refused as an invalid URL.
EXPECTED_FOR_OTHERS = {("PUT", "/v1/uploads/{upload_id}/parts/{number}"): 401}


def id_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI schema with a path parameter."""
    routes = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            if any(p["in"] == "path" for p in params):
                routes.append((method.upper(), path))
    # Deletions last, so that the owner's own calls still find what they delete.
    return sorted(routes, key=lambda route: route[0] == "DELETE")


def create_owned(client: TestClient, key: str, sessions: Any) -> Owned:
    job = client.post("/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")})
    batch = client.post(
        "/v1/batches", headers=auth(key), files=[("files", ("b.png", png(), "image/png"))]
    )
    upload = client.post(
        "/v1/uploads", headers=auth(key), json={"filename": "u.zip", "size_bytes": 10}
    )
    # Another key of the owner's, so that revoking it leaves ``key`` working.
    api_key = client.post("/v1/keys", headers=auth(key), json={"name": "owned"})
    assert (job.status_code, batch.status_code, upload.status_code) == (202, 202, 201)
    assert api_key.status_code == 201, api_key.text
    delivery_id = add_delivery(sessions, job.json()["id"])
    dataset_id, training_id, model_id = add_training_rows(sessions, job.json()["id"])
    ids = {
        "dataset_id": dataset_id,
        "training_id": training_id,
        "model_id": model_id,
        "job_id": job.json()["id"],
        "batch_id": batch.json()["id"],
        "upload_id": upload.json()["id"],
        "delivery_id": delivery_id,
        "key_id": api_key.json()["id"],
        "number": "1",
        "page_index": "0",
        "line_index": "0",
    }
    return Owned(ids=ids, part_query={})


def add_training_rows(sessions: Any, job_id: str) -> tuple[str, str, str]:
    """A ready dataset, a queued training on it and a trained model of the job's tenant."""
    from shared.db.models import Dataset, TrainedModel, Training

    with transaction(sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        dataset = Dataset(tenant_id=job.tenant_id, status="ready", source_key="k/d.zip")
        session.add(dataset)
        session.flush()
        training = Training(
            tenant_id=job.tenant_id,
            kind="recognizer",
            family="crnn",
            name="t",
            dataset_id=dataset.id,
        )
        model = TrainedModel(
            tenant_id=job.tenant_id,
            name="m",
            version=1,
            kind="recognizer",
            family="crnn",
            sha256="0" * 64,
            size_bytes=1,
            object_key="k/m.pt",
        )
        session.add_all([training, model])
        session.flush()
        return dataset.id, training.id, model.id


def add_delivery(sessions: Any, job_id: str) -> str:
    """A delivered webhook of the job's tenant, as the worker would have left it."""
    with transaction(sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        finish_job(session, job, JobStatus.SUCCEEDED)
        for page in session.scalars(select(Page).where(Page.job_id == job_id)):
            page.status = PageStatus.SUCCEEDED.value
            page.lines = [{"text": "recognized", "confidence": 0.5, "bbox": [0, 0, 10, 10]}]
        session.flush()
        delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id))
        if delivery is None:
            delivery = WebhookDelivery(
                id=f"msg_{job_id}"[:40],
                tenant_id=job.tenant_id,
                event_type="job.completed",
                job_id=job_id,
                url="https://hooks.example.org/x",
                payload="{}",
            )
            session.add(delivery)
        delivery.status = DeliveryStatus.DELIVERED.value
        return delivery.id


def signed_part_query(client: TestClient, key: str) -> dict[str, str]:
    """The query of a part URL signed for an upload of ``key``'s own tenant."""
    upload = client.post(
        "/v1/uploads", headers=auth(key), json={"filename": "mine.zip", "size_bytes": 10}
    ).json()
    query = parse_qs(urlsplit(upload["parts"][0]["url"]).query)
    return {name: values[0] for name, values in query.items()}


def call(client: TestClient, key: str, method: str, path: str, owned: Owned) -> Any:
    params = {name for _, name, _, _ in string.Formatter().parse(path) if name}
    missing = params - owned.ids.keys()
    assert not missing, f"{method} {path}: no fixture for {missing}; add one to create_owned"
    extras = REQUEST_EXTRAS.get((method, path), lambda _: {})(owned)
    return client.request(method, path.format(**owned.ids), headers=auth(key), **extras)


def test_every_id_route_hides_other_tenants_resources(
    client: TestClient,
    new_key: Callable[..., str],
    sessions: Any,
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    # Keys that may do everything, so that only ownership decides the answers.
    alice, bob = new_key("alice-owner", ALL_SCOPES), new_key("bob-intruder", ALL_SCOPES)
    owned = create_owned(client, alice, sessions)
    owned.part_query = signed_part_query(client, bob)
    routes = id_routes(client)
    assert len(routes) >= 14  # jobs, batches, uploads, deliveries, keys at least
    queued_before = len(sent_messages(redis_client))

    for method, path in routes:
        answer = call(client, bob, method, path, owned)
        expected = EXPECTED_FOR_OTHERS.get((method, path), 404)
        assert answer.status_code == expected, (method, path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"

    # Bob's calls changed nothing of Alice's.
    assert len(sent_messages(redis_client)) == queued_before
    with sessions() as session:
        delivery = session.get(WebhookDelivery, owned.ids["delivery_id"])
        assert delivery.status == DeliveryStatus.DELIVERED.value
        assert session.get(ApiKey, owned.ids["key_id"]).revoked_at is None
    upload_dir = settings.effective_store_dir / "tenants"
    assert not [p for p in upload_dir.rglob("parts/*") if owned.ids["upload_id"] in str(p)]

    # The same ids are real: Alice reaches every route (so 404 above meant "not yours").
    owned.part_query = {}
    for method, path in routes:
        if (method, path) in EXPECTED_FOR_OTHERS:
            continue
        answer = call(client, alice, method, path, owned)
        assert answer.status_code not in (404, 500), (method, path, answer.text)


def test_ids_in_bodies_and_queries_are_scoped_too(
    client: TestClient, new_key: Callable[..., str], sessions: Any
) -> None:
    alice, bob = new_key("alice-body", ALL_SCOPES), new_key("bob-body")
    owned = create_owned(client, alice, sessions)
    batch = client.post(
        "/v1/batches", headers=auth(bob), json={"upload_id": owned.ids["upload_id"]}
    )
    assert batch.status_code == 404
    listed = client.get(
        "/v1/webhook-deliveries", headers=auth(bob), params={"job_id": owned.ids["job_id"]}
    )
    assert listed.status_code == 200 and listed.json() == {"items": []}
    mine = client.get(
        "/v1/webhook-deliveries", headers=auth(alice), params={"job_id": owned.ids["job_id"]}
    )
    assert [d["id"] for d in mine.json()["items"]] == [owned.ids["delivery_id"]]


# --- API keys are stored hashed only --------------------------------------------------------


def every_stored_value(sessions: Any) -> list[str]:
    values: list[str] = []
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(text(f"SELECT * FROM {table.name}")).all()
            values.extend(str(value) for row in rows for value in row)
    return values


def test_keys_are_stored_as_keyed_hashes_only(
    client: TestClient, settings: Settings, sessions: Any
) -> None:
    with transaction(sessions) as session:
        key = issue_api_key(session, ensure_tenant(session, "hashed"), settings.secret_key)
    assert client.get("/v1/webhook-deliveries", headers=auth(key)).status_code == 200
    digest = hash_key(key, settings.secret_key)
    with sessions() as session:
        query = text("SELECT * FROM api_keys WHERE key_hash = :digest")
        row = session.execute(query, {"digest": digest}).mappings().one()
    assert len(digest) == 64
    # Only the hash and a short display prefix ("qk_" and 7 characters) are kept.
    assert all(key not in str(value) for value in row.values())
    assert row["prefix"] == key[:10]
    assert not any(key[3:13] in value for value in every_stored_value(sessions))


# --- object keys stay under the tenant's prefix ---------------------------------------------


HOSTILE_NAMES = [
    "../../x.png",
    "../../../../etc/passwd",
    "/etc/passwd",
    "/abs/path/scan.png",
    "C:\\Windows\\system32\\x.png",
    "..\\..\\x.png",
    "nul\x00byte.png",
    "ctrl\x01\x1f\x7fchars.png",
    "a" * 5000 + ".png",
    "\u202egnp.exe",
    "\uff0f..\uff0f..\uff0ffullwidth.png",
    "e\u0301\u0301\u0301combining.png",
    "\U0001f4c4 emoji.png",
    "tenants/other-tenant/jobs/x/source.png",
    "",
]


def stored_objects(settings: Settings) -> list[str]:
    root = settings.effective_store_dir
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def tenant_id_of(sessions: Any, name: str) -> str:
    with transaction(sessions) as session:
        return ensure_tenant(session, name).id


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_filenames_never_leave_the_tenant_prefix(
    client: TestClient,
    new_key: Callable[[str], str],
    settings: Settings,
    sessions: Any,
    name: str,
) -> None:
    tenant = f"hostile-{uuid.uuid4().hex[:8]}"
    key = new_key(tenant)
    tenant_id = tenant_id_of(sessions, tenant)
    prefix = f"tenants/{tenant_id}/"
    job = client.post("/v1/jobs", headers=auth(key), files={"file": (name, png(), "image/png")})
    batch = client.post(
        "/v1/batches", headers=auth(key), files=[("files", (name, png(), "image/png"))]
    )
    upload = client.post(
        "/v1/uploads", headers=auth(key), json={"filename": name or "x", "size_bytes": 10}
    )
    # Accepted, or refused as invalid (a name longer than the header or field limits).
    answers = {"job": (job, 202), "batch": (batch, 202), "upload": (upload, 201)}
    for what, (answer, accepted) in answers.items():
        assert answer.status_code in (accepted, 422), (what, answer.text)
    with sessions() as session:
        keys = list(session.scalars(select(Job.source_key).where(Job.tenant_id == tenant_id)))
        keys += list(session.scalars(select(Upload.key).where(Upload.tenant_id == tenant_id)))
    assert len(keys) == sum(a.status_code in (201, 202) for a, _ in answers.values())
    assert all(k.startswith(prefix) for k in keys), keys
    assert all(o.startswith(prefix) for o in stored_objects(settings))
    assert not list(settings.data_dir.parent.rglob("x.png"))


def test_a_normal_and_a_hostile_name_are_both_accepted(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    # Guards the test above against passing because everything is refused.
    key = new_key("hostile-accepted")
    for name in ("scan.png", "../../x.png", "nul\x00byte.png", "\u202egnp.exe"):
        job = client.post("/v1/jobs", headers=auth(key), files={"file": (name, png(), "image/png")})
        assert job.status_code == 202, job.text
    assert len(stored_objects(settings)) == 4


def raw_multipart(field: str, filename: bytes, body: bytes) -> tuple[bytes, str]:
    """A form whose part header carries ``filename`` byte for byte (httpx would escape it)."""
    boundary = "quireboundary7f3a"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'
    tail = '"\r\nContent-Type: image/png\r\n\r\n'
    content = head.encode() + filename + tail.encode() + body + f"\r\n--{boundary}--\r\n".encode()
    return content, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/batches"])
def test_control_bytes_in_a_raw_filename_are_dropped(
    client: TestClient, new_key: Callable[[str], str], sessions: Any, route: str
) -> None:
    tenant = f"raw-{uuid.uuid4().hex[:8]}"
    key = new_key(tenant)
    field = "file" if route == "/v1/jobs" else "files"
    content, content_type = raw_multipart(field, b"../nul\x00\x01\x1b[31mred.png", png())
    answer = client.post(
        route, headers={**auth(key), "Content-Type": content_type}, content=content
    )
    assert answer.status_code == 202, answer.text
    tenant_id = tenant_id_of(sessions, tenant)
    with sessions() as session:
        job = session.scalars(select(Job).where(Job.tenant_id == tenant_id)).one()
    assert job.filename == "../nul[31mred.png"
    assert job.source_key.startswith(f"tenants/{tenant_id}/jobs/{job.id}/")


# --- no secrets in logs ---------------------------------------------------------------------


def test_no_secret_reaches_the_logs(
    client: TestClient,
    settings: Settings,
    sessions: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with transaction(sessions) as session:
        tenant = ensure_tenant(session, "quiet-logs")
        key = issue_api_key(session, tenant, settings.secret_key)
        secret = ensure_secret(session, tenant.id, SecretBox(settings.secret_key))
    assert client.get("/v1/webhook-deliveries", headers=auth(key)).status_code == 200
    assert client.get("/v1/jobs/nope", headers={"X-API-Key": key}).status_code == 404
    assert client.get("/v1/jobs/nope", headers=auth(key + "x")).status_code == 401
    assert client.get("/v1/webhook-secret", headers=auth(key)).json()["secret"] == secret
    delivered, failed = deliver_two_webhooks(settings, sessions, tenant.id)
    assert (delivered, failed) == ("delivered", "pending")

    logged = caplog.text + "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "POST" in logged or "delivery" in logged  # the capture did see the traffic
    for what in (key, hash_key(key, settings.secret_key), secret, secret.removeprefix("whsec_")):
        assert what not in logged


def deliver_two_webhooks(settings: Settings, sessions: Any, tenant_id: str) -> tuple[str, str]:
    """One delivery that succeeds and one whose receiver is down, through the worker."""
    worker_settings = settings.model_copy(
        update={"webhook_allow_http": True, "webhook_allow_loopback": True}
    )
    context = WorkerContext.build(worker_settings, producer=build_celery(worker_settings))
    receiver = Receiver()
    try:
        ids = [job_with_callback(sessions, tenant_id, url) for url in (receiver.url, DEAD_URL)]
        for delivery_id in ids:
            deliver_webhook(context, delivery_id)
        receiver.wait_for(1)
        with sessions() as session:
            statuses = [session.get(WebhookDelivery, i).status for i in ids]
    finally:
        receiver.close()
        context.close()
    return statuses[0], statuses[1]


DEAD_URL = "http://127.0.0.1:9/hook"


def job_with_callback(sessions: Any, tenant_id: str, url: str) -> str:
    with transaction(sessions) as session:
        job = Job(tenant_id=tenant_id, source_key="k", media_type="image/png", callback_url=url)
        session.add(job)
        session.flush()
        finish_job(session, job, JobStatus.SUCCEEDED)
        job_id = job.id
    with sessions() as session:
        delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id))
        assert delivery is not None
        return delivery.id


# --- form field and metadata limits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"metadata": json.dumps({"x": "y" * 17_000})}, "metadata exceeds 16384 bytes"),
        ({"metadata": json.dumps({"x": "y" * 70_000})}, "exceeds 65536 bytes"),
        ({f"f{i}": "v" for i in range(17)}, "too many form fields"),
    ],
    ids=["metadata-over-16k", "field-over-64k", "17-fields"],
)
@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/batches"])
def test_form_limits_are_422_and_store_nothing(
    client: TestClient,
    new_key: Callable[[str], str],
    settings: Settings,
    route: str,
    data: dict[str, str],
    detail: str,
) -> None:
    file_field = "file" if route == "/v1/jobs" else "files"
    answer = client.post(
        route,
        headers=auth(new_key("limits")),
        data=data,
        files=[(file_field, ("a.png", png(), "image/png"))],
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert detail in answer.json()["detail"]
    assert stored_objects(settings) == []


def test_json_batch_metadata_over_the_limit_is_422(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    answer = client.post(
        "/v1/batches",
        headers=auth(new_key("json-limits")),
        json={"upload_id": "u", "metadata": {"x": "y" * 17_000}},
    )
    assert answer.status_code == 422
    assert "metadata exceeds" in answer.json()["detail"]
