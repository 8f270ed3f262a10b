"""Retention purge and receipts through the API in-process and the sweeper's pass, on SQLite and
PostgreSQL, real Redis, and the local store and a versioned S3 bucket (moto)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cli.main import main
from shared.db.migrate import upgrade
from shared.db.models import Job, Page, PurgeReceipt, Tenant, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.objectkeys import job_prefix, page_image_key
from shared.retention import set_retention
from shared.settings import Settings, StoreBackend
from shared.storage.s3 import s3_client
from tests.batch_inputs import pdf_bytes, png_bytes
from tests.integration.conftest import auth
from tests.integration.test_cancel_delete import all_keys, count, submit, under
from worker.context import WorkerContext
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.retention_purge import purge_expired

pytestmark = pytest.mark.integration
PDF = "application/pdf"
STORES = pytest.mark.parametrize("settings", ["local", "s3-versioned"], indirect=True)


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
) -> Settings:
    extra: dict[str, Any] = {}
    if getattr(request, "param", "local") == "s3-versioned":
        env = request.getfixturevalue("s3_env")
        request.getfixturevalue("s3_client").put_bucket_versioning(
            Bucket=env["QUIRE_S3_BUCKET"], VersioningConfiguration={"Status": "Enabled"}
        )
        extra = {
            "store_backend": StoreBackend.S3,
            "s3_endpoint_url": env["QUIRE_S3_ENDPOINT_URL"],
            "s3_bucket": env["QUIRE_S3_BUCKET"],
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    return make_settings(database_url=database_url, redis_url=redis_url, **extra)


def fresh(name: str) -> str:
    """A tenant name of this test alone: the session's databases outlive each test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def stored_versions(settings: Settings, prefix: str) -> list[tuple[str, str]]:
    """Every (key, version) under the prefix: S3 versions and delete markers, or local files."""
    if settings.store_backend is not StoreBackend.S3:
        return sorted((k, "") for k in under(all_keys(settings), prefix))
    pages = (
        s3_client(settings)
        .get_paginator("list_object_versions")
        .paginate(Bucket=settings.s3_bucket, Prefix=prefix + "/")
    )
    return sorted(
        (v["Key"], v["VersionId"])
        for page in pages
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    )


def retain(ctx: WorkerContext, tenant: str, days: int | None) -> str:
    with transaction(ctx.sessions) as session:
        return set_retention(session, tenant, days).id


def finished_days_ago(ctx: WorkerContext, job_id: str, days: float) -> None:
    moment = utcnow() - timedelta(days=days)
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(finished_at=moment, created_at=moment)
        )


def finished_job(client: TestClient, key: str, ctx: WorkerContext, days_ago: float) -> str:
    job = submit(client, key, png_bytes("kept for a while"), "page.png", "image/png")
    prepare_job(ctx, job["id"])
    ocr_page(ctx, job["id"], 0)
    finished_days_ago(ctx, job["id"], days_ago)
    return str(job["id"])


def receipts(client: TestClient, key: str, **query: Any) -> dict[str, Any]:
    answer = client.get("/v1/purges", headers=auth(key), params=query)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@STORES
def test_work_past_its_retention_is_purged_and_the_rest_stays(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, settings: Settings
) -> None:
    name = fresh("alice")
    alice, mallory = new_key(name), new_key(fresh("mallory"))
    tenant_id = retain(ctx, name, 1)
    old = finished_job(client, alice, ctx, days_ago=2)
    recent = finished_job(client, alice, ctx, days_ago=0.5)
    running = submit(client, alice, pdf_bytes(["a", "b"]), "doc.pdf", PDF)["id"]
    prepare_job(ctx, running)  # queued pages, never run
    finished_days_ago(ctx, running, 3)  # an old start; a running job has no end
    with transaction(ctx.sessions) as session:
        session.execute(update(Job).where(Job.id == running).values(finished_at=None))
    prefix = job_prefix(tenant_id, old)
    source = f"{prefix}/source.png"
    extra = f"{prefix}/exports/result.pdf"
    ctx.store.put_bytes(source, png_bytes("overwritten"), "image/png")  # a second version
    ctx.store.put_bytes(extra, b"%PDF", PDF)
    if settings.store_backend is StoreBackend.S3:  # a plain delete: only a delete marker
        s3_client(settings).delete_object(Bucket=settings.s3_bucket, Key=extra)
        assert len(stored_versions(settings, prefix)) == 4
    kept = {p: stored_versions(settings, job_prefix(tenant_id, p)) for p in (recent, running)}

    assert purge_expired(ctx) is False

    assert stored_versions(settings, prefix) == []
    assert count(ctx, Job, Job.id == old) == 0 and count(ctx, Page, Page.job_id == old) == 0
    assert client.get(f"/v1/jobs/{old}", headers=auth(alice)).status_code == 404
    for job_id in (recent, running):
        assert client.get(f"/v1/jobs/{job_id}", headers=auth(alice)).status_code == 200
        assert stored_versions(settings, job_prefix(tenant_id, job_id)) == kept[job_id]
    listing = receipts(client, alice)
    assert listing["retention"] == {"days": 1, "source": "tenant"}
    (item,) = listing["items"]
    assert (item["resource"], item["resource_id"], item["reason"]) == ("job", old, "retention")
    assert item["retention_days"] == 1 and item["completed_at"] is not None
    assert (item["jobs_deleted"], item["pages_deleted"]) == (1, 1)
    expected = {sha(source), sha(extra)}
    assert set(item["object_key_sha256"]) == expected
    assert item["objects_deleted"] == len(expected)
    assert source not in str(listing) and old not in str(item["object_key_sha256"])
    other = receipts(client, mallory)
    assert other["items"] == [] and other["retention"] == {"days": None, "source": "default"}
    assert receipts(client, mallory, resource_id=old)["items"] == []
    assert purge_expired(ctx) is False  # nothing more is due
    assert len(receipts(client, alice)["items"]) == 1


@STORES
def test_a_worker_writing_after_the_purge_started_leaves_nothing(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = fresh("race")
    key = new_key(name)
    tenant_id = retain(ctx, name, 1)
    job = finished_job(client, key, ctx, days_ago=2)
    late = page_image_key(tenant_id, job, 7, "png")
    purge_prefix, passes = ctx.store.purge_prefix, list[str]()

    def write_during_purge(prefix: str) -> list[str]:
        removed = purge_prefix(prefix)
        if not passes:  # a worker stores an image right after the first pass
            ctx.store.put_bytes(late, png_bytes("late"), "image/png")
        passes.append(prefix)
        return removed

    monkeypatch.setattr(ctx.store, "purge_prefix", write_during_purge)
    purge_expired(ctx)

    assert stored_versions(settings, job_prefix(tenant_id, job)) == []
    assert count(ctx, Job, Job.id == job) == 0
    (item,) = receipts(client, key)["items"]
    assert sha(late) in item["object_key_sha256"] and item["objects_deleted"] == 2
    assert passes == [job_prefix(tenant_id, job)] * 2


def test_a_split_stopped_by_a_purge_removes_what_it_stores_after_it(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = fresh("split")
    key = new_key(name)
    tenant_id = retain(ctx, name, 1)
    job = submit(client, key, pdf_bytes(["a", "b", "c"]), "doc.pdf", PDF)["id"]
    put_bytes = ctx.store.put_bytes

    def purge_then_put(object_key: str, data: bytes, content_type: str) -> None:
        if object_key.endswith("/00001.png"):  # canceled long ago, purged while page 1 renders
            assert client.post(f"/v1/jobs/{job}/cancel", headers=auth(key)).status_code == 200
            finished_days_ago(ctx, job, 2)
            purge_expired(ctx)
        put_bytes(object_key, data, content_type)

    monkeypatch.setattr(ctx.store, "put_bytes", purge_then_put)
    prepare_job(ctx, job)

    assert under(all_keys(settings), job_prefix(tenant_id, job)) == set()  # page 1: its writer
    assert count(ctx, Job, Job.id == job) == 0 and count(ctx, Page, Page.job_id == job) == 0
    assert [i["resource_id"] for i in receipts(client, key)["items"]] == [job]


def test_delete_writes_a_receipt_and_receipts_page_newest_first(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key(fresh("deleter"))
    jobs = [finished_job(client, key, ctx, days_ago=0) for _ in range(3)]
    files = [("files", (f"p{i}.png", png_bytes(f"page {i}"), "image/png")) for i in range(2)]
    batch_id = client.post("/v1/batches", headers=auth(key), files=files).json()["id"]
    for job_id in jobs:
        assert client.delete(f"/v1/jobs/{job_id}", headers=auth(key)).status_code == 204
    assert client.delete(f"/v1/batches/{batch_id}", headers=auth(key)).status_code == 204

    first = receipts(client, key, limit=3)
    second = receipts(client, key, limit=3, cursor=first["next_cursor"])

    items = first["items"] + second["items"]
    assert second["next_cursor"] is None and len(items) == 4
    assert [i["resource_id"] for i in items] == [batch_id, *reversed(jobs)]
    assert {i["reason"] for i in items} == {"delete"}
    batch, job = items[0], items[1]
    assert (batch["resource"], batch["jobs_deleted"], batch["retention_days"]) == ("batch", 2, None)
    assert (job["resource"], job["jobs_deleted"], job["pages_deleted"]) == ("job", 1, 1)
    assert job["objects_deleted"] == 1 == len(job["object_key_sha256"])  # the image is its page
    assert receipts(client, key, resource_id=jobs[0])["items"][0]["resource_id"] == jobs[0]
    bad = client.get("/v1/purges", headers=auth(key), params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    assert count(ctx, PurgeReceipt, PurgeReceipt.resource_id.in_(jobs)) == 3


def test_openapi_documents_the_receipts(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/v1/purges"]["get"]
    assert route["summary"] == "List purge receipts"
    assert {p["name"] for p in route["parameters"]} >= {"cursor", "limit", "resource_id"}
    schema = spec["components"]["schemas"]["PurgeOut"]["properties"]
    assert {"reason", "objects_deleted", "object_key_sha256", "resource_id"} <= schema.keys()
    assert "404" in route["responses"] and "401" in route["responses"]


def test_the_cli_sets_and_shows_a_tenants_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'tenants.db'}"
    upgrade(url)
    monkeypatch.setenv("QUIRE_DATABASE_URL", url)
    monkeypatch.setenv("QUIRE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUIRE_RETENTION_DAYS", "90")
    engine = build_engine(url)
    with transaction(build_sessionmaker(engine)) as session:
        session.add(Tenant(name="acme"))
    capsys.readouterr()  # the migration's own log lines are not the CLI's output

    def quire(*words: str) -> tuple[int, str, str]:
        status = main(list(words))
        out = capsys.readouterr()
        return status, out.out, out.err

    assert quire("tenants", "retention", "--tenant", "acme") == (0, "acme: 90 days (default)\n", "")
    assert quire("tenants", "retention", "--tenant", "acme", "--days", "7")[1] == "acme: 7 days\n"
    assert quire("tenants", "retention", "--tenant", "acme", "--days", "none")[1] == (
        "acme: forever\n"
    )
    listed = quire("tenants", "list")[1].splitlines()
    assert listed[0].split() == ["NAME", "ID", "RETENTION"] and listed[1].endswith("forever")
    assert quire("tenants", "retention", "--tenant", "acme", "--days", "default")[1] == (
        "acme: 90 days (default)\n"
    )
    status, _, err = quire("tenants", "retention", "--tenant", "nobody", "--days", "3")
    assert status == 1 and "no tenant 'nobody'" in err
    assert quire("tenants", "retention", "--tenant", "acme", "--days", "soon")[0] == 1
    with build_sessionmaker(engine)() as session:
        tenant = session.query(Tenant).filter_by(name="acme").one()
        assert tenant.retention_days is None
    engine.dispose()


def test_the_s3_store_deletes_every_version_of_exactly_the_key(
    s3_client: Any, s3_bucket: str
) -> None:
    from shared.storage.s3 import S3ObjectStore

    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    store = S3ObjectStore(s3_client, s3_bucket, prefix="quire")
    for data in (b"one", b"two"):
        store.put_bytes("tenants/t/jobs/j/source.pdf", data, PDF)
    store.put_bytes("tenants/t/jobs/j/source.pdf.bak", b"sibling", PDF)
    store.put_bytes("tenants/t/jobs/k/source.pdf", b"other job", PDF)

    assert store.purge("tenants/t/jobs/j/source.pdf") is True
    assert store.purge("tenants/t/jobs/j/source.pdf") is False
    versions = s3_client.list_object_versions(Bucket=s3_bucket, Prefix="quire/")
    left = {v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])}
    assert left == {"quire/tenants/t/jobs/j/source.pdf.bak", "quire/tenants/t/jobs/k/source.pdf"}
    assert store.purge_prefix("tenants/t/jobs/j") == ["tenants/t/jobs/j/source.pdf.bak"]
    assert store.delete_prefix("tenants/t/jobs/k") == 1
    gone = s3_client.list_object_versions(Bucket=s3_bucket, Prefix="quire/")
    assert "Versions" not in gone and "DeleteMarkers" not in gone
