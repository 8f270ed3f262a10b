"""Upgrades that keep data: a database made at the first migration and filled as quire wrote
it then, upgraded to head, reads back through today's API and worker; and a task message in a
payload version this worker does not know is refused with a log, never lost: the reconcile
pass sends the work again in the current format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from shared.apikeys import display_prefix, generate_key, hash_key
from shared.celery_config import build_celery
from shared.db.migrate import upgrade
from shared.db.models import utcnow
from shared.queues import OCR_PAGE
from shared.settings import Settings
from tests.databases import temporary_pg_database
from tests.fakes import fake_engine, striped_page
from tests.integration.conftest import auth
from tests.integration.test_worker_steps import encode
from worker.context import WorkerContext
from worker.ocr_page import ocr_page
from worker.reconcile import reconcile_once
from worker.tasks import register_tasks

pytestmark = pytest.mark.integration
SECRET = "dev-only-insecure-secret-key-change-me"
WHEN = "2026-11-20 10:00:00+00:00"
LINES = [
    {"text": "Dear Sir,", "confidence": 0.93, "bbox": [10, 10, 190, 30]},
    {"text": "thank you for the books", "confidence": 0.88, "bbox": [10, 40, 190, 70]},
]


@pytest.fixture(params=["sqlite", "pg"])
def database_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'first.db'}"
        upgrade(url, "0001")
        yield url
        return
    admin_url = str(request.getfixturevalue("pg_admin_url"))
    with temporary_pg_database(admin_url, "quire_first", migrated=False) as url:
        upgrade(url, "0001")
        yield url


def fill_as_first_release(url: str) -> str:
    """A tenant, a key, a succeeded job with its result, a failed job and a queued job, as
    the first schema's quire wrote them; returns the key."""
    key = generate_key()
    engine = create_engine(url)
    job = (
        "INSERT INTO jobs (id, tenant_id, status, priority, source_key, media_type, filename,"
        " size_bytes, pages_total, pages_done, pages_failed, error_code, error_message, metadata,"
        " callback_url, batch_id, model, created_at, started_at, finished_at, updated_at) VALUES"
        " (:id, 't1', :status, 'interactive', :key, 'image/png', :name, 100, :total, :done,"
        " :failed, :code, :message, :meta, NULL, NULL, :model, :now, :now, :finished, :now)"
    )
    page = (
        'INSERT INTO pages (id, job_id, "index", status, image_key, width, height, text, lines,'
        " model, attempts, error_code, error_message, created_at, started_at, finished_at)"
        " VALUES (:id, :job, 0, :status, :key, :w, :h, :text, :lines, :model, :attempts, NULL,"
        " NULL, :now, :now, :finished)"
    )
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'first', :now)"),
            {"now": WHEN},
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, created_at)"
                " VALUES ('k1', 't1', :digest, :prefix, 'first key', :now)"
            ),
            {"digest": hash_key(key, SECRET), "prefix": display_prefix(key), "now": WHEN},
        )
        for values in (
            {
                "id": "j-done",
                "status": "succeeded",
                "name": "letter.png",
                "total": 1,
                "done": 1,
                "failed": 0,
                "code": None,
                "message": None,
                "model": "ppocr-v5",
                "finished": WHEN,
            },
            {
                "id": "j-failed",
                "status": "failed",
                "name": "bad.png",
                "total": 0,
                "done": 0,
                "failed": 0,
                "code": "corrupt_image",
                "message": "truncated",
                "model": None,
                "finished": WHEN,
            },
            {
                "id": "j-queued",
                "status": "queued",
                "name": "later.png",
                "total": 1,
                "done": 0,
                "failed": 0,
                "code": None,
                "message": None,
                "model": None,
                "finished": None,
            },
        ):
            connection.execute(
                text(job),
                {
                    **values,
                    "key": f"tenants/t1/jobs/{values['id']}/source.png",
                    "meta": json.dumps({"box": "7"}),
                    "now": WHEN,
                },
            )
        connection.execute(
            text(page),
            {
                "id": "p-done",
                "job": "j-done",
                "status": "succeeded",
                "key": "tenants/t1/jobs/j-done/source.png",
                "w": 200,
                "h": 80,
                "text": "Dear Sir,\nthank you for the books",
                "lines": json.dumps(LINES),
                "model": "ppocr-v5",
                "attempts": 1,
                "now": WHEN,
                "finished": WHEN,
            },
        )
        connection.execute(
            text(page),
            {
                "id": "p-queued",
                "job": "j-queued",
                "status": "queued",
                "key": "tenants/t1/jobs/j-queued/source.png",
                "w": None,
                "h": None,
                "text": None,
                "lines": None,
                "model": None,
                "attempts": 0,
                "now": WHEN,
                "finished": None,
            },
        )
    engine.dispose()
    return key


def test_the_first_schemas_data_reads_back_at_head(
    database_at_0001: str, tmp_path: Path, redis_url: str
) -> None:
    key = fill_as_first_release(database_at_0001)
    upgrade(database_at_0001)
    settings = Settings(
        database_url=database_at_0001, redis_url=redis_url, data_dir=tmp_path / "data"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        jobs = client.get("/v1/jobs", headers=auth(key))
        assert jobs.status_code == 200, jobs.text
        assert {j["id"] for j in jobs.json()["items"]} == {"j-done", "j-failed", "j-queued"}
        failed = client.get("/v1/jobs/j-failed", headers=auth(key)).json()
        assert failed["error"] == {"code": "corrupt_image", "message": "truncated"}
        assert failed["metadata"] == {"box": "7"} and failed["models"] is None
        result = client.get("/v1/jobs/j-done/result", headers=auth(key)).json()
        assert result["text"] == "Dear Sir,\nthank you for the books"
        assert [line["text"] for line in result["pages"][0]["lines"]] == [
            "Dear Sir,",
            "thank you for the books",
        ]
        assert result["pages"][0]["lines"][0]["bbox"] == [10, 10, 190, 30]
        for fmt in ("txt", "alto", "pagexml", "hocr"):
            export = client.get(f"/v1/jobs/j-done/result?format={fmt}", headers=auth(key))
            assert export.status_code == 200 and b"books" in export.content, fmt
        fixed = client.patch(
            "/v1/jobs/j-done/pages/0/lines/0", headers=auth(key), json={"text": "Dear Madam,"}
        )
        assert fixed.status_code == 200, fixed.text  # corrections work on old rows
        assert client.get("/v1/models", headers=auth(key)).status_code == 200

    # The queued job of the first release runs on today's worker.
    ctx = WorkerContext.build(settings, producer=build_celery(settings))
    ctx._engine = fake_engine()
    ctx.store.put_bytes(
        "tenants/t1/jobs/j-queued/source.png", encode(striped_page([20])), "image/png"
    )
    ocr_page(ctx, "j-queued", 0)
    ctx.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/jobs/j-queued", headers=auth(key)).json()["status"] == "succeeded"


def test_a_message_of_an_unknown_payload_version_is_refused_then_the_work_is_sent_again(
    ctx: WorkerContext,
    make_job: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from worker.prepare import prepare_job

    job_id = make_job(encode(striped_page([20])))  # type: ignore[operator]
    prepare_job(ctx, job_id)
    tasks = register_tasks(build_celery(ctx.settings), ctx)
    with caplog.at_level(logging.ERROR, logger="quire.worker"):
        tasks[OCR_PAGE](2, job_id, 0)  # a newer release's message
    assert "unknown payload version 2; message dropped" in caplog.text
    with ctx.sessions() as session:
        status = session.execute(
            text("SELECT status FROM pages WHERE job_id = :j"), {"j": job_id}
        ).scalar()
    assert status == "queued"  # nothing was done, nothing lost
    client = __import__("redis").Redis.from_url(ctx.settings.broker_url)
    client.flushdb()  # the refused message is gone from the broker
    report = reconcile_once(ctx, now=utcnow() + timedelta(minutes=5))
    assert report.pages_resent >= 1
    tasks[OCR_PAGE](1, job_id, 0)  # the resent message, in today's version
    with ctx.sessions() as session:
        status = session.execute(
            text("SELECT status FROM pages WHERE job_id = :j"), {"j": job_id}
        ).scalar()
    assert status == "succeeded"
