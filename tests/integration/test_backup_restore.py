"""`quire backup` / `quire restore`: the disaster-recovery drill on real PostgreSQL and an S3
API (moto), a SQLite and local-store round trip, refusals, corruption, an older schema, and
the store listing the backup relies on."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from api.app import create_app
from cli.main import main
from shared.backup.manifest import MANIFEST, OBJECTS_DIR
from shared.celery_config import build_celery
from shared.db.migrate import upgrade
from shared.db.models import Job, Page, PageStatus, WebhookDelivery, utcnow
from shared.db.session import transaction
from shared.queues import OCR_PAGE, PREPARE_JOB
from shared.settings import Settings
from shared.storage import ObjectStore, build_store
from shared.storage.local import LocalObjectStore
from shared.storage.s3 import S3ObjectStore
from shared.tenancy import ensure_tenant, issue_api_key
from tests.batch_inputs import png_bytes
from tests.databases import temporary_pg_database
from tests.fakes import fake_engine
from tests.integration.conftest import auth
from tests.integration.test_batches import process
from tests.integration.test_db_upgrade import head_revision
from tests.integration.test_reconcile import tasks_in
from worker.context import WorkerContext
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.reconcile import reconcile_once

pytestmark = pytest.mark.integration
LATER = timedelta(hours=1)  # past the reconcile pass's staleness threshold
HOOK = "http://127.0.0.1:9/hook"  # nothing listens: deliveries stay pending
EXPORT_TIME = re.compile(rb"<(Created|LastChange)>[^<]*</(Created|LastChange)>")
WEBHOOKS = {"QUIRE_WEBHOOK_ALLOW_HTTP": "true", "QUIRE_WEBHOOK_ALLOW_LOOPBACK": "true"}


def configure(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Set the environment `quire` reads for this test; the settings it makes."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def quire(*words: str) -> int:
    return main(list(words))


@contextmanager
def worker(settings: Settings) -> Iterator[WorkerContext]:
    """What a worker process holds, with the fake engine."""
    ctx = WorkerContext.build(settings, producer=build_celery(settings))
    ctx._engine = fake_engine()
    try:
        yield ctx
    finally:
        ctx.close()


def issue_key(ctx: WorkerContext, tenant: str) -> str:
    with transaction(ctx.sessions) as session:
        return issue_api_key(session, ensure_tenant(session, tenant), ctx.settings.secret_key)


def submit(client: TestClient, key: str, text_line: str) -> str:
    answer = client.post(
        "/v1/jobs",
        headers=auth(key),
        files={"file": (f"{text_line}.png", png_bytes(text_line), "image/png")},
        data={"callback_url": HOOK},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def run_job(ctx: WorkerContext, job_id: str) -> None:
    """The CPU worker's prepare step, then the GPU worker's page steps."""
    prepare_job(ctx, job_id)
    with ctx.sessions() as session:
        indexes = session.scalars(
            select(Page.index).where(Page.job_id == job_id, Page.status == PageStatus.QUEUED)
        ).all()
    for index in indexes:
        ocr_page(ctx, job_id, index)


STEPS = {
    PREPARE_JOB: lambda ctx, kw: prepare_job(ctx, kw["job_id"]),
    OCR_PAGE: lambda ctx, kw: ocr_page(ctx, kw["job_id"], kw["page_index"]),
}


def work_off(ctx: WorkerContext, broker: redis.Redis) -> set[str]:
    """Take every job step the broker holds and run it, as the workers would, until none
    is left; the jobs worked on."""
    jobs: set[str] = set()
    for _ in range(10):
        steps = [(t, kw) for q in ("cpu", "gpu") for t, kw in tasks_in(broker, q) if t in STEPS]
        broker.flushdb()
        if not steps:
            return jobs
        for task, kwargs in steps:
            STEPS[task](ctx, kwargs)
            jobs.add(kwargs["job_id"])
    raise AssertionError("the steps did not end")


def export_members(client: TestClient, key: str, batch_id: str) -> dict[str, bytes]:
    answer = client.get(
        f"/v1/batches/{batch_id}/export",
        headers=auth(key),
        params={"format": "json,txt,hocr,alto,pagexml"},
    )
    assert answer.status_code == 200, answer.text
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    # PAGE XML stamps the export's own time as Created and LastChange.
    return {name: EXPORT_TIME.sub(b"", archive.read(name)) for name in archive.namelist()}


def deliveries(client: TestClient, key: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/webhook-deliveries", headers=auth(key), params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["items"], key=lambda d: d["id"])


def destroy_bucket(s3_client: Any, bucket: str) -> None:
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            s3_client.delete_object(Bucket=bucket, Key=entry["Key"])
    s3_client.delete_bucket(Bucket=bucket)


def bucket_digests(s3_client: Any, bucket: str) -> dict[str, str]:
    """SHA-256 of every object in the bucket, by key."""
    found = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            body = s3_client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            found[entry["Key"]] = hashlib.sha256(body).hexdigest()
    return found


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


# --- the drill: PostgreSQL and S3 ----------------------------------------------------------


def test_drill_backup_destroy_restore_into_fresh_servers(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pg_admin_url: str,
    s3_env: dict[str, str],
    s3_client: Any,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = {"QUIRE_DATA_DIR": str(tmp_path / "quire"), "QUIRE_REDIS_URL": redis_url, **WEBHOOKS}
    backup = tmp_path / "backup"
    with temporary_pg_database(pg_admin_url, "quire_drill") as original_url:
        settings = configure(monkeypatch, {**base, **s3_env, "QUIRE_DATABASE_URL": original_url})
        with worker(settings) as ctx, TestClient(create_app(settings)) as client:
            key = issue_key(ctx, "archive")
            done = [submit(client, key, words) for words in ("first page", "second page")]
            for job_id in done:
                run_job(ctx, job_id)
            files = [("files", (f"{w}.png", png_bytes(w), "image/png")) for w in ("a", "b")]
            answer = client.post(
                "/v1/batches", headers=auth(key), files=files, data={"callback_url": HOOK}
            )
            assert answer.status_code == 202, answer.text
            batch_id = answer.json()["id"]
            process(ctx, batch_id)
            queued = submit(client, key, "queued at backup time")  # no worker takes it
            with ctx.sessions() as session:
                batch_jobs = session.scalars(select(Job.id).where(Job.batch_id == batch_id)).all()
            results = {
                job_id: client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).content
                for job_id in [*done, *batch_jobs]
            }
            export = export_members(client, key, batch_id)
            pending = deliveries(client, key)
        assert {d["status"] for d in pending} == {"pending"}
        assert {d["event_type"] for d in pending} == {"job.completed", "batch.completed"}
        assert all(json.loads(body)["pages"][0]["lines"] for body in results.values())
        objects = bucket_digests(s3_client, s3_env["QUIRE_S3_BUCKET"])
        capsys.readouterr()

        assert quire("backup", "--out", str(backup)) == 0
        progress = capsys.readouterr().err
        assert "objects copied:" in progress and "backup complete" in progress
        manifest = json.loads((backup / MANIFEST).read_text())
        assert manifest["database_kind"] == "postgresql"
        assert manifest["missing_objects"] == [] and manifest["object_count"] >= 5

        # The disaster: database, bucket and broker gone.
        drop_database(pg_admin_url, original_url)
    destroy_bucket(s3_client, s3_env["QUIRE_S3_BUCKET"])
    redis.Redis.from_url(redis_url).flushdb()

    fresh_bucket = s3_env["QUIRE_S3_BUCKET"] + "-restored"
    s3_client.create_bucket(Bucket=fresh_bucket)
    with temporary_pg_database(pg_admin_url, "quire_restored", migrated=False) as fresh_url:
        fresh = {"QUIRE_DATABASE_URL": fresh_url, "QUIRE_S3_BUCKET": fresh_bucket}
        restored = configure(monkeypatch, {**base, **s3_env, **fresh})
        assert quire("restore", "--from", str(backup)) == 0
        assert "restore complete" in capsys.readouterr().err
        assert bucket_digests(s3_client, fresh_bucket) == objects
        assert quire("restore", "--from", str(backup)) == 1  # once is enough
        assert "target database already has" in capsys.readouterr().err
        assert quire("restore", "--from", str(backup), "--force") == 0  # replaces it
        with worker(restored) as ctx, TestClient(create_app(restored)) as client:
            for job_id, body in results.items():
                again = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key))
                assert again.status_code == 200 and again.content == body, job_id
            assert export_members(client, key, batch_id) == export
            assert deliveries(client, key) == pending

            status = client.get(f"/v1/jobs/{queued}", headers=auth(key)).json()["status"]
            assert status == "queued"
            report = reconcile_once(ctx, now=utcnow() + LATER)
            assert report.pages_resent + report.jobs_resent == 1, report
            assert work_off(ctx, redis.Redis.from_url(redis_url)) == {queued}
            final = client.get(f"/v1/jobs/{queued}", headers=auth(key)).json()
            assert final["status"] == "succeeded", final
            result = client.get(f"/v1/jobs/{queued}/result", headers=auth(key)).json()
            assert result["pages"][0]["lines"]
            with ctx.sessions() as session:
                assert (
                    session.scalar(
                        select(WebhookDelivery.status).where(WebhookDelivery.job_id == queued)
                    )
                    == "pending"
                )


# --- SQLite and a local store ---------------------------------------------------------------


def local_env(root: Path) -> dict[str, str]:
    return {"QUIRE_DATA_DIR": str(root), "QUIRE_DATABASE_URL": f"sqlite:///{root / 'q.db'}"}


def populated_local(monkeypatch: pytest.MonkeyPatch, root: Path, redis_url: str) -> Settings:
    settings = configure(monkeypatch, {**local_env(root), "QUIRE_REDIS_URL": redis_url, **WEBHOOKS})
    upgrade(settings.effective_database_url)
    with worker(settings) as ctx, TestClient(create_app(settings)) as client:
        run_job(ctx, submit(client, issue_key(ctx, "local"), "local page"))
    return settings


def job_rows(url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, source_key FROM jobs ORDER BY id"))
        found = [tuple(row) for row in rows]
    engine.dispose()
    return found


def test_sqlite_and_local_store_round_trip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    source = populated_local(monkeypatch, tmp_path / "a", redis_url)
    store = build_store(source)
    objects = {k: store.get_bytes(k) for k in store.list_keys()}
    assert objects
    assert quire("backup", "--out", str(tmp_path / "backup")) == 0

    target = configure(monkeypatch, local_env(tmp_path / "b"))
    assert quire("restore", "--from", str(tmp_path / "backup")) == 0
    assert job_rows(target.effective_database_url) == job_rows(source.effective_database_url)
    restored = build_store(target)
    assert {k: restored.get_bytes(k) for k in restored.list_keys()} == objects


def test_restore_refuses_a_target_with_data_unless_forced(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populated_local(monkeypatch, tmp_path / "a", redis_url)
    assert quire("backup", "--out", str(tmp_path / "backup")) == 0
    assert quire("backup", "--out", str(tmp_path / "backup")) == 1  # never into a used folder
    assert "not an empty folder" in capsys.readouterr().err

    # The source itself is not empty: both the database and the store are refused.
    assert quire("restore", "--from", str(tmp_path / "backup")) == 1
    assert "target database already has" in capsys.readouterr().err
    configure(monkeypatch, {**local_env(tmp_path / "b")})
    LocalObjectStore(tmp_path / "b" / "objects").put_bytes("stray/x.bin", b"x", "x/y")
    assert quire("restore", "--from", str(tmp_path / "backup")) == 1
    assert "object store is not empty" in capsys.readouterr().err
    assert not (tmp_path / "b" / "q.db").exists()  # nothing was written

    settings = configure(monkeypatch, local_env(tmp_path / "a"))
    with worker(settings) as ctx, transaction(ctx.sessions) as session:
        session.execute(text("DELETE FROM jobs"))
    assert job_rows(settings.effective_database_url) == []
    assert quire("restore", "--from", str(tmp_path / "backup"), "--force") == 0
    assert len(job_rows(settings.effective_database_url)) == 1


def test_a_corrupt_backup_is_refused_before_anything_is_written(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populated_local(monkeypatch, tmp_path / "a", redis_url)
    backup = tmp_path / "backup"
    assert quire("backup", "--out", str(backup)) == 0
    victim = next(p for p in (backup / OBJECTS_DIR).rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes() + b"!")
    configure(monkeypatch, local_env(tmp_path / "b"))
    capsys.readouterr()
    assert quire("restore", "--from", str(backup)) == 1
    assert "does not match the manifest" in capsys.readouterr().err
    assert not (tmp_path / "b" / "q.db").exists()
    assert list(LocalObjectStore(tmp_path / "b" / "objects").list_keys()) == []

    (backup / MANIFEST).unlink()  # as a backup cut short leaves it
    assert quire("restore", "--from", str(backup)) == 1
    assert "no finished backup" in capsys.readouterr().err


def test_an_older_backup_comes_up_at_head(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old = configure(monkeypatch, local_env(tmp_path / "a"))
    upgrade(old.effective_database_url, "0011")
    assert quire("backup", "--out", str(tmp_path / "backup")) == 0
    assert json.loads((tmp_path / "backup" / MANIFEST).read_text())["database_revision"] == "0011"
    new = configure(monkeypatch, local_env(tmp_path / "b"))
    assert quire("restore", "--from", str(tmp_path / "backup")) == 0
    engine = create_engine(new.effective_database_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == (
            head_revision()
        )
        assert "trained_models" in inspect(connection).get_table_names()
    engine.dispose()


def test_a_backup_from_a_newer_release_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch, local_env(tmp_path / "a"))
    upgrade(Settings().effective_database_url)
    assert quire("backup", "--out", str(tmp_path / "backup")) == 0
    manifest = json.loads((tmp_path / "backup" / MANIFEST).read_text())
    manifest["database_revision"] = "9999"
    (tmp_path / "backup" / MANIFEST).write_text(json.dumps(manifest))
    configure(monkeypatch, local_env(tmp_path / "b"))
    assert quire("restore", "--from", str(tmp_path / "backup")) == 1
    assert "unknown to this release" in capsys.readouterr().err


def test_an_object_deleted_between_dump_and_copy_is_listed_as_missing(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = populated_local(monkeypatch, tmp_path / "a", redis_url)
    with worker(settings) as ctx, transaction(ctx.sessions) as session:
        tenant = ensure_tenant(session, "local")
        gone = f"tenants/{tenant.id}/jobs/gone/source.png"  # its object is already deleted
        session.add(Job(tenant_id=tenant.id, source_key=gone, media_type="image/png"))
    capsys.readouterr()
    assert quire("backup", "--out", str(tmp_path / "backup")) == 0
    assert json.loads((tmp_path / "backup" / MANIFEST).read_text())["missing_objects"] == [gone]
    assert "1 objects the dump names were deleted" in capsys.readouterr().err


def test_backup_says_when_pg_dump_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://quire@127.0.0.1:1/quire"
    configure(monkeypatch, {"QUIRE_DATABASE_URL": url, "PATH": str(tmp_path)})
    assert quire("backup", "--out", str(tmp_path / "backup")) == 1
    assert "pg_dump is not on PATH" in capsys.readouterr().err
    assert not (tmp_path / "backup" / MANIFEST).exists()


# --- listing the store ----------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    client = request.getfixturevalue("s3_client")
    bucket = str(request.getfixturevalue("s3_bucket"))
    client.put_object(Bucket=bucket, Key="outside/prefix.bin", Body=b"not ours")
    return S3ObjectStore(client, bucket, prefix="tenant-store")


def test_list_keys_lists_every_object_under_a_prefix_sorted(store: ObjectStore) -> None:
    keys = ["b/2.png", "a/x/1.png", "a/y.txt", "z.bin"]
    for key in keys:
        store.put_bytes(key, key.encode(), "application/octet-stream")
    assert list(store.list_keys()) == sorted(keys)
    assert list(store.list_keys("a")) == ["a/x/1.png", "a/y.txt"]
    assert list(store.list_keys("a/")) == ["a/x/1.png", "a/y.txt"]
    assert list(store.list_keys("none")) == []
    store.delete("a/y.txt")
    assert list(store.list_keys("a")) == ["a/x/1.png"]


def test_local_list_keys_skips_writes_in_progress(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put_bytes("a/1.png", b"1", "image/png")
    (tmp_path / "objects" / "a" / ".upload-abc123").write_bytes(b"half")
    assert list(store.list_keys()) == ["a/1.png"]
