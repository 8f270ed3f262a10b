"""Duplicate uploads through the API in-process, on SQLite and PostgreSQL, real Redis and an
S3 store (moto), with the worker steps run here: reuse, reject, tenants apart, archives."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from shared.db.models import Batch, Job, WebhookDelivery
from shared.db.session import transaction
from shared.settings import DuplicatePolicy, Settings, StoreBackend
from tests.batch_inputs import png_bytes, tiff_bytes, zip_of
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import sent_messages
from tests.integration.test_uploads import put_part, start
from worker.context import WorkerContext
from worker.ingest import ingest_batch
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job

pytestmark = pytest.mark.integration
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    s3_env: dict[str, str],
) -> Settings:
    return make_settings(
        database_url=database_url,
        redis_url=redis_url,
        store_backend=StoreBackend.S3,
        s3_endpoint_url=s3_env["QUIRE_S3_ENDPOINT_URL"],
        s3_bucket=s3_env["QUIRE_S3_BUCKET"],
        s3_access_key_id="test",
        s3_secret_access_key="test",
        webhook_allow_http=True,
        webhook_allow_loopback=True,
    )


def submit(client: TestClient, key: str, data: bytes, name: str = "scan.png", **fields: str):
    mime = "image/tiff" if name.endswith(".tif") else "image/png"
    return client.post(
        "/v1/jobs", headers=auth(key), files={"file": (name, data, mime)}, data=fields
    )


def run_job(ctx: WorkerContext, job_id: str) -> None:
    """What the workers would do with a job: split it, read every page."""
    prepare_job(ctx, job_id)
    with transaction(ctx.sessions) as session:
        total = session.get(Job, job_id).pages_total  # type: ignore[union-attr]
    for index in range(total):
        ocr_page(ctx, job_id, index)


def processed(client: TestClient, ctx: WorkerContext, key: str, data: bytes, **fields: str) -> dict:
    """A job of ``data`` submitted and run to success."""
    answer = submit(client, key, data, **fields)
    assert answer.status_code == 202, answer.text
    run_job(ctx, answer.json()["id"])
    job = client.get(f"/v1/jobs/{answer.json()['id']}", headers=auth(key)).json()
    assert job["status"] == "succeeded", job
    return dict(job)


def result(client: TestClient, key: str, job_id: str) -> dict:
    answer = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def job_count(ctx: WorkerContext) -> int:
    with transaction(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_reuse_answers_a_succeeded_copy_without_ocr(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
) -> None:
    key = new_key("reuser")
    data = tiff_bytes(["first page", "second page"])
    first = processed(client, ctx, key, data)
    assert first["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert first["duplicate_of"] is None
    before = len(sent_messages(redis_client))

    answer = submit(client, key, data, "again.tif", on_duplicate="reuse", callback_url=HOOK)

    assert answer.status_code == 202, answer.text
    again = answer.json()
    assert again["id"] != first["id"] and again["duplicate_of"] == first["id"]
    assert again["status"] == "succeeded" and "retry-after" not in answer.headers
    assert again["pages_total"] == again["pages_done"] == 2
    assert again["content_sha256"] == first["content_sha256"]
    assert len(sent_messages(redis_client)) == before  # no task: OCR never runs
    copied = result(client, key, again["id"])
    original = result(client, key, first["id"])
    assert copied["job_id"] == again["id"]
    assert copied["text"] == original["text"] and "line" in copied["text"]
    assert copied["pages"] == original["pages"]
    with transaction(ctx.sessions) as session:
        events = session.scalars(
            select(WebhookDelivery.event_type).where(WebhookDelivery.job_id == again["id"])
        ).all()
    assert events == ["job.completed"]

    # The copy keeps its own rows and file: deleting the earlier job leaves it whole.
    assert client.delete(f"/v1/jobs/{first['id']}", headers=auth(key)).status_code == 204
    assert result(client, key, again["id"])["text"] == original["text"]
    later = client.get(f"/v1/jobs/{again['id']}", headers=auth(key)).json()
    assert later["duplicate_of"] == first["id"] and later["status"] == "succeeded"
    with transaction(ctx.sessions) as session:
        source = session.get(Job, again["id"]).source_key  # type: ignore[union-attr]
    assert ctx.store.get_bytes(source) == data


def test_reuse_picks_the_newest_reusable_copy_and_then_none(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("chain")
    data = png_bytes("chained")
    first = processed(client, ctx, key, data)
    second = submit(client, key, data, on_duplicate="reuse").json()
    assert second["duplicate_of"] == first["id"]
    third = submit(client, key, data, on_duplicate="reuse").json()
    assert third["duplicate_of"] == second["id"]  # the newest succeeded job with the hash
    for job in (first, second, third):
        assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(key)).status_code == 204
    fresh = submit(client, key, data, on_duplicate="reuse").json()
    assert fresh["status"] == "queued" and fresh["duplicate_of"] is None


def test_reject_is_a_409_naming_the_earlier_job(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
) -> None:
    key = new_key("rejecter")
    data = png_bytes("only once")
    first = processed(client, ctx, key, data)
    jobs, messages = job_count(ctx), len(sent_messages(redis_client))

    answer = submit(client, key, data, on_duplicate="reject")

    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "duplicate_upload" and problem["duplicate_of"] == first["id"]
    assert first["id"] in problem["detail"]
    assert job_count(ctx) == jobs and len(sent_messages(redis_client)) == messages
    # Other bytes, and the same bytes with process, go through.
    assert submit(client, key, png_bytes("other"), on_duplicate="reject").status_code == 202
    assert submit(client, key, data, on_duplicate="process").status_code == 202


def test_the_setting_is_the_default_and_the_field_overrides_it(
    settings: Settings, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("strict")
    data = png_bytes("by default")
    strict = settings.model_copy(update={"on_duplicate": DuplicatePolicy.REJECT})
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        first = processed(client, ctx, key, data)
        refused = submit(client, key, data)
        assert refused.status_code == 409 and refused.json()["duplicate_of"] == first["id"]
        reused = submit(client, key, data, on_duplicate="reuse")
        assert reused.status_code == 202 and reused.json()["duplicate_of"] == first["id"]
        bad = submit(client, key, data, on_duplicate="skip")
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def test_another_tenants_identical_upload_is_processed(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
) -> None:
    data = png_bytes("shared scan")
    processed(client, ctx, new_key("tenant-a"), data)
    other = new_key("tenant-b")
    for policy in ("reject", "reuse"):
        before = len(sent_messages(redis_client))
        answer = submit(client, other, data, on_duplicate=policy)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued" and answer.json()["duplicate_of"] is None
        assert len(sent_messages(redis_client)) == before + 1


def test_an_unfinished_or_failed_earlier_job_does_not_count(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("early")
    data = png_bytes("not yet read")
    queued = submit(client, key, data).json()
    for policy in ("reuse", "reject"):
        answer = submit(client, key, data, on_duplicate=policy)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued" and answer.json()["duplicate_of"] is None
    with transaction(ctx.sessions) as session:
        session.get(Job, queued["id"]).status = "failed"  # type: ignore[union-attr]
    assert submit(client, key, data, on_duplicate="reject").status_code == 202


def test_idempotent_replay_of_a_reusing_submission(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("replayer")
    data = png_bytes("replayed")
    first = processed(client, ctx, key, data)
    headers = {**auth(key), "Idempotency-Key": "dup-1"}
    files = {"file": ("scan.png", data, "image/png")}
    one = client.post("/v1/jobs", headers=headers, files=files, data={"on_duplicate": "reuse"})
    two = client.post("/v1/jobs", headers=headers, files=files, data={"on_duplicate": "reuse"})
    assert one.status_code == two.status_code == 202
    assert one.json()["id"] == two.json()["id"] and two.json()["duplicate_of"] == first["id"]
    assert two.headers["Idempotent-Replayed"] == "true"


# --- batches ---------------------------------------------------------------------------------


def ingest(ctx: WorkerContext, batch_id: str) -> None:
    for _ in range(100):
        ingest_batch(ctx, batch_id)
        with transaction(ctx.sessions) as session:
            if session.get(Batch, batch_id).ingested_at is not None:  # type: ignore[union-attr]
                return
    raise AssertionError("ingest did not end")


def items_of(client: TestClient, key: str, batch_id: str) -> list[dict]:
    answer = client.get(f"/v1/batches/{batch_id}/items", headers=auth(key))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def prepare_tasks(redis_client: redis.Redis) -> list[Any]:
    return [
        m["headers"]["kwargsrepr"]
        for m in sent_messages(redis_client)
        if m["headers"]["task"] == "quire.prepare_job"
    ]


def test_archive_members_seen_before_are_skipped_under_reject(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
) -> None:
    key = new_key("archivist")
    seen = png_bytes("seen before")
    first = processed(client, ctx, key, seen)
    archive = zip_of({"box/seen.png": seen, "box/new.png": png_bytes("brand new")})
    answer = client.post(
        "/v1/batches",
        headers=auth(key),
        files={"file": ("box.zip", archive, "application/zip")},
        data={"on_duplicate": "reject"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["on_duplicate"] == "reject"

    ingest(ctx, answer.json()["id"])

    items = {i["path"]: i for i in items_of(client, key, answer.json()["id"])}
    assert items["box/seen.png"]["status"] == "skipped"
    assert items["box/seen.png"]["error"]["code"] == "duplicate_content"
    assert first["id"] in items["box/seen.png"]["error"]["message"]
    assert items["box/new.png"]["status"] == "queued"
    batch = client.get(f"/v1/batches/{answer.json()['id']}", headers=auth(key)).json()
    assert batch["items_total"] == 2 and batch["items_skipped"] == 1


def test_archive_members_seen_before_reuse_results_under_reuse(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
) -> None:
    key = new_key("reusing-archivist")
    seen = png_bytes("read once")
    first = processed(client, ctx, key, seen)
    redis_client.flushdb()
    archive = zip_of({"a/seen.png": seen})
    answer = client.post(
        "/v1/batches",
        headers=auth(key),
        files={"file": ("a.zip", archive, "application/zip")},
        data={"on_duplicate": "reuse"},
    )
    batch_id = answer.json()["id"]

    ingest(ctx, batch_id)

    [item] = items_of(client, key, batch_id)
    assert item["status"] == "succeeded"
    job = client.get(f"/v1/jobs/{item['job_id']}", headers=auth(key)).json()
    assert job["duplicate_of"] == first["id"] and job["batch_id"] == batch_id
    assert result(client, key, job["id"])["text"] == result(client, key, first["id"])["text"]
    assert prepare_tasks(redis_client) == []
    batch = client.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()
    assert batch["status"] == "succeeded" and batch["jobs"]["succeeded"] == 1


def test_presigned_archive_members_are_hashed_by_the_worker(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("presigned")
    seen = png_bytes("uploaded straight to S3")
    first = processed(client, ctx, key, seen)
    data = zip_of({"seen.png": seen, "other.png": png_bytes("other")})
    upload = start(client, key, data, "direct.zip")
    etag = put_part(client, upload["parts"][0], data)
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete",
        headers=auth(key),
        json={"parts": [{"number": 1, "etag": etag}]},
    )
    assert done.status_code == 200, done.text
    bad = client.post(
        "/v1/batches", headers=auth(key), json={"upload_id": upload["id"], "on_duplicate": "x"}
    )
    assert bad.status_code == 422
    answer = client.post(
        "/v1/batches",
        headers=auth(key),
        json={"upload_id": upload["id"], "on_duplicate": "reuse"},
    )
    assert answer.status_code == 202, answer.text

    ingest(ctx, answer.json()["id"])

    items = {i["path"]: i for i in items_of(client, key, answer.json()["id"])}
    reused = client.get(f"/v1/jobs/{items['seen.png']['job_id']}", headers=auth(key)).json()
    fresh = client.get(f"/v1/jobs/{items['other.png']['job_id']}", headers=auth(key)).json()
    assert reused["duplicate_of"] == first["id"] and reused["status"] == "succeeded"
    assert reused["content_sha256"] == hashlib.sha256(seen).hexdigest()
    assert fresh["duplicate_of"] is None and fresh["status"] == "queued"
    assert fresh["content_sha256"] == hashlib.sha256(png_bytes("other")).hexdigest()


def test_files_of_a_batch_follow_on_duplicate(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
) -> None:
    key = new_key("files")
    seen = png_bytes("file seen")
    first = processed(client, ctx, key, seen)
    files = [
        ("files", ("seen.png", seen, "image/png")),
        ("files", ("new.png", png_bytes("file new"), "image/png")),
    ]
    rejecting = client.post(
        "/v1/batches", headers=auth(key), files=files, data={"on_duplicate": "reject"}
    )
    assert rejecting.status_code == 202, rejecting.text
    items = {i["path"]: i for i in items_of(client, key, rejecting.json()["id"])}
    assert items["seen.png"]["error"]["code"] == "duplicate_content"
    assert items["new.png"]["status"] == "queued"

    redis_client.flushdb()
    only_seen = [("files", ("seen.png", seen, "image/png"))]
    reusing = client.post(
        "/v1/batches", headers=auth(key), files=only_seen, data={"on_duplicate": "reuse"}
    )
    assert reusing.status_code == 202, reusing.text
    batch = reusing.json()
    assert batch["status"] == "succeeded" and batch["jobs"]["succeeded"] == 1
    [item] = items_of(client, key, batch["id"])
    job = client.get(f"/v1/jobs/{item['job_id']}", headers=auth(key)).json()
    assert job["duplicate_of"] == first["id"]
    assert prepare_tasks(redis_client) == []
