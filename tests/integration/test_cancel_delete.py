"""Cancel and delete of jobs and batches through the API in-process, with the worker steps run
here, on SQLite and PostgreSQL, real Redis, and the local and S3 (moto) stores."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.db.models import Batch, BatchItem, Job, Page, WebhookDelivery
from shared.db.session import transaction
from shared.errors import AttemptsExhausted
from shared.objectkeys import batch_prefix, job_prefix, page_image_key
from shared.settings import Settings, StoreBackend
from shared.storage.s3 import s3_client
from tests.batch_inputs import pdf_bytes, png_bytes, zip_of
from tests.fakes import SizeRecognizer, StripeDetector
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import queued_messages
from worker import ingest
from worker import prepare as prepare_module
from worker.context import WorkerContext
from worker.engines.base import DetectedLine, Image, OcrEngine
from worker.ingest import ingest_batch
from worker.job_state import fail_unfinished_job
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job

pytestmark = pytest.mark.integration
PDF = "application/pdf"
HOOK = "http://127.0.0.1:9/hook"
BOTH_STORES = pytest.mark.parametrize("settings", ["local", "s3"], indirect=True)


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
) -> Settings:
    extra: dict[str, Any] = {}
    if getattr(request, "param", "local") == "s3":
        env = request.getfixturevalue("s3_env")
        extra = {
            "store_backend": StoreBackend.S3,
            "s3_endpoint_url": env["QUIRE_S3_ENDPOINT_URL"],
            "s3_bucket": env["QUIRE_S3_BUCKET"],
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    return make_settings(
        database_url=database_url,
        redis_url=redis_url,
        webhook_allow_http=True,
        webhook_allow_loopback=True,
        **extra,
    )


class GatedDetector(StripeDetector):
    """Holds every detection until released, so a page can be caught while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def detect(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        self.started.set()
        assert self.release.wait(20), "the test never released the detector"
        return super().detect(pages)


def all_keys(settings: Settings) -> set[str]:
    """Every object in the store, local or S3."""
    if settings.store_backend is StoreBackend.S3:
        pages = (
            s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket)
        )
        return {o["Key"] for page in pages for o in page.get("Contents", [])}
    root = settings.effective_store_dir
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def under(keys: set[str], prefix: str) -> set[str]:
    return {k for k in keys if k.startswith(prefix + "/")}


def submit(client: TestClient, key: str, data: bytes, name: str, mime: str, **fields: str) -> dict:
    answer = client.post(
        "/v1/jobs", headers=auth(key), files={"file": (name, data, mime)}, data=fields
    )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def pages_of(ctx: WorkerContext, job_id: str) -> list[Page]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.index)))


def completions(ctx: WorkerContext, event: str, **owner: str) -> list[dict]:
    """The data of the outbox rows of one event for a job or batch."""
    ((column, value),) = owner.items()
    with ctx.sessions() as session:
        rows = session.scalars(
            select(WebhookDelivery).where(
                getattr(WebhookDelivery, column) == value, WebhookDelivery.event_type == event
            )
        ).all()
        return [json.loads(r.payload)["data"] for r in rows]


def count(ctx: WorkerContext, model: Any, *where: Any) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def cancel(client: TestClient, key: str, kind: str, resource_id: str) -> Any:
    return client.post(f"/v1/{kind}/{resource_id}/cancel", headers=auth(key))


# --- cancel a job ----------------------------------------------------------------------------


def test_cancel_queued_job_drops_its_pages(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("canceler")
    job = submit(client, key, pdf_bytes(["a", "b", "c"]), "doc.pdf", PDF, callback_url=HOOK)
    prepare_job(ctx, job["id"])
    assert [p.status for p in pages_of(ctx, job["id"])] == ["queued"] * 3

    answer = cancel(client, key, "jobs", job["id"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "canceled" and answer.json()["finished_at"]
    for index in range(3):  # the page tasks already in the queue arrive: nothing runs
        ocr_page(ctx, job["id"], index)
    prepare_job(ctx, job["id"])  # a redelivered prepare sends nothing either

    assert ctx.engine.detector.calls == []  # type: ignore[attr-defined]
    assert [p.status for p in pages_of(ctx, job["id"])] == ["canceled"] * 3
    polled = client.get(f"/v1/jobs/{job['id']}", headers=auth(key))
    assert polled.json()["status"] == "canceled" and polled.json()["pages_done"] == 0
    assert "retry-after" not in polled.headers
    again = cancel(client, key, "jobs", job["id"])
    assert again.status_code == 200 and again.json()["status"] == "canceled"
    events = completions(ctx, "job.completed", job_id=job["id"])
    assert [e["status"] for e in events] == ["canceled"]


def test_cancel_mid_job_lets_the_running_page_land_and_stays_canceled(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("midway")
    job = submit(client, key, pdf_bytes(["a", "b", "c"]), "doc.pdf", PDF, callback_url=HOOK)
    gate = GatedDetector()
    ctx._engine = OcrEngine(gate, SizeRecognizer())
    prepare_job(ctx, job["id"])
    gate.release.set()
    ocr_page(ctx, job["id"], 0)
    gate.started.clear()
    gate.release.clear()
    running = threading.Thread(target=ocr_page, args=(ctx, job["id"], 1))
    running.start()
    assert gate.started.wait(20)

    answer = cancel(client, key, "jobs", job["id"])
    gate.release.set()
    running.join(20)
    ocr_page(ctx, job["id"], 2)

    assert answer.status_code == 200 and answer.json()["status"] == "canceled"
    assert [p.status for p in pages_of(ctx, job["id"])] == ["succeeded", "succeeded", "canceled"]
    assert len(gate.calls) == 2  # pages 0 and 1; page 2 never reached the engine
    polled = client.get(f"/v1/jobs/{job['id']}", headers=auth(key)).json()
    assert polled["status"] == "canceled"
    assert (polled["pages_total"], polled["pages_done"]) == (3, 2)
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(key)).json()
    assert [p["status"] for p in result["pages"]] == ["succeeded", "succeeded", "canceled"]
    assert [e["status"] for e in completions(ctx, "job.completed", job_id=job["id"])] == [
        "canceled"
    ]


def test_cancel_of_a_finished_job_is_409(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("finisher")
    job = submit(client, key, png_bytes("done"), "a.png", "image/png", callback_url=HOOK)
    prepare_job(ctx, job["id"])
    ocr_page(ctx, job["id"], 0)

    answer = cancel(client, key, "jobs", job["id"])
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "job_finished"
    polled = client.get(f"/v1/jobs/{job['id']}", headers=auth(key)).json()
    assert polled["status"] == "succeeded"
    assert [e["status"] for e in completions(ctx, "job.completed", job_id=job["id"])] == [
        "succeeded"
    ]


def test_cancel_of_another_tenants_job_is_404(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    alice, mallory = new_key("alice"), new_key("mallory")
    job = submit(client, alice, png_bytes("mine"), "a.png", "image/png")
    answer = cancel(client, mallory, "jobs", job["id"])
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth(alice)).json()["status"] == "queued"


# --- cancel a batch --------------------------------------------------------------------------


def test_cancel_batch_cancels_pending_jobs_once(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("batch-canceler")
    files = [("files", (f"p{i}.png", png_bytes(f"page {i}"), "image/png")) for i in range(3)]
    made = client.post("/v1/batches", headers=auth(key), files=files, data={"callback_url": HOOK})
    assert made.status_code == 202, made.text
    batch_id = made.json()["id"]
    with ctx.sessions() as session:
        job_ids = list(
            session.scalars(select(Job.id).where(Job.batch_id == batch_id).order_by(Job.filename))
        )
    prepare_job(ctx, job_ids[0])
    ocr_page(ctx, job_ids[0], 0)  # p0 succeeds
    prepare_job(ctx, job_ids[1])  # p1 has a queued page; p2 is not even split

    answer = cancel(client, key, "batches", batch_id)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "canceled" and body["progress"] == 1.0
    assert body["jobs"]["succeeded"] == 1 and body["jobs"]["canceled"] == 2
    prepare_job(ctx, job_ids[2])
    ocr_page(ctx, job_ids[1], 0)
    assert count(ctx, Page, Page.job_id == job_ids[2]) == 0
    assert [p.status for p in pages_of(ctx, job_ids[1])] == ["canceled"]
    assert cancel(client, key, "batches", batch_id).json()["status"] == "canceled"
    events = completions(ctx, "batch.completed", batch_id=batch_id)
    assert len(events) == 1
    assert events[0]["status"] == "canceled" and events[0]["jobs"]["canceled"] == 2


def test_cancel_stops_the_ingest_of_an_archive_between_groups(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    settings: Settings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = new_key("ingest-canceler")
    members = {f"m{i:02d}.png": png_bytes(f"member {i}") for i in range(8)}
    made = client.post(
        "/v1/batches", headers=auth(key), files={"file": ("a.zip", zip_of(members), "x/zip")}
    )
    batch_id = made.json()["id"]
    monkeypatch.setattr(ingest, "GROUP_SIZE", 2)
    monkeypatch.setattr(ingest, "GROUP_SECONDS", 600.0)  # groups by size only
    stored: list[str] = []
    put_stream = ctx.store.put_stream

    def put_then_cancel(object_key: str, stream: Any, content_type: str) -> None:
        put_stream(object_key, stream, content_type)
        stored.append(object_key)
        if len(stored) == 3:  # the second group is half read when the client cancels
            assert cancel(client, key, "batches", batch_id).status_code == 200

    monkeypatch.setattr(ctx.store, "put_stream", put_then_cancel)
    redis_client.flushdb()
    ingest_batch(ctx, batch_id)

    assert len(stored) == 4  # it read up to the end of the group, then stopped
    with ctx.sessions() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None and batch.status == "canceled"
        assert batch.items_total == 2
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id)).all()
    assert sorted(j.status for j in jobs) == ["canceled", "canceled"]
    sent = [m["headers"]["task"] for m in queued_messages(redis_client, "cpu")]
    assert "quire.ingest_batch" not in sent  # no continuation was queued
    keys = all_keys(settings)
    assert {k for k in stored if k in keys} == {j.source_key for j in jobs}


def test_cancel_of_a_finished_batch_is_409(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("batch-finisher")
    files = [("files", ("p.png", png_bytes("page"), "image/png"))]
    batch_id = client.post("/v1/batches", headers=auth(key), files=files).json()["id"]
    with ctx.sessions() as session:
        (job_id,) = session.scalars(select(Job.id).where(Job.batch_id == batch_id)).all()
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)
    answer = cancel(client, key, "batches", batch_id)
    assert answer.status_code == 409 and answer.json()["code"] == "batch_finished"
    assert client.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()["status"] == (
        "succeeded"
    )


# --- delete ------------------------------------------------------------------------------------


@BOTH_STORES
def test_delete_job_removes_its_rows_and_only_its_objects(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, settings: Settings
) -> None:
    key = new_key("deleter")
    done = submit(client, key, pdf_bytes(["a", "b"]), "done.pdf", PDF, callback_url=HOOK)
    kept = submit(client, key, pdf_bytes(["c", "d"]), "kept.pdf", PDF)
    for job in (done, kept):
        prepare_job(ctx, job["id"])
    for index in range(2):
        ocr_page(ctx, done["id"], index)
    with ctx.sessions() as session:
        tenant_id = session.get(Job, done["id"]).tenant_id  # type: ignore[union-attr]
    prefix, other = job_prefix(tenant_id, done["id"]), job_prefix(tenant_id, kept["id"])
    before = all_keys(settings)
    assert len(under(before, prefix)) == 3 and len(under(before, other)) == 3  # source + pages

    answer = client.delete(f"/v1/jobs/{done['id']}", headers=auth(key))

    assert answer.status_code == 204 and answer.content == b""
    assert client.get(f"/v1/jobs/{done['id']}", headers=auth(key)).status_code == 404
    assert client.get(f"/v1/jobs/{done['id']}/result", headers=auth(key)).status_code == 404
    assert client.delete(f"/v1/jobs/{done['id']}", headers=auth(key)).status_code == 404
    assert count(ctx, Job, Job.id == done["id"]) == 0
    assert count(ctx, Page, Page.job_id == done["id"]) == 0
    assert count(ctx, WebhookDelivery, WebhookDelivery.job_id == done["id"]) == 0
    after = all_keys(settings)
    assert under(after, prefix) == set()
    assert after == before - under(before, prefix)  # nothing else went
    assert client.get(f"/v1/jobs/{kept['id']}", headers=auth(key)).status_code == 200


@BOTH_STORES
def test_delete_of_a_running_job_cancels_it_and_late_tasks_do_nothing(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, settings: Settings
) -> None:
    key = new_key("late")
    job = submit(client, key, pdf_bytes(["a", "b", "c"]), "doc.pdf", PDF)
    prepare_job(ctx, job["id"])

    assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(key)).status_code == 204
    for index in range(3):
        ocr_page(ctx, job["id"], index)  # the queued page tasks arrive: no crash, no work
    prepare_job(ctx, job["id"])

    assert ctx.engine.detector.calls == []  # type: ignore[attr-defined]
    assert count(ctx, Job, Job.id == job["id"]) == 0
    assert count(ctx, Page, Page.job_id == job["id"]) == 0
    assert not [k for k in all_keys(settings) if job["id"] in k]


def test_delete_of_another_tenants_job_is_404(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    alice, mallory = new_key("alice"), new_key("mallory")
    job = submit(client, alice, png_bytes("mine"), "a.png", "image/png")
    answer = client.delete(f"/v1/jobs/{job['id']}", headers=auth(mallory))
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth(alice)).status_code == 200
    assert client.delete(f"/v1/batches/{job['id']}", headers=auth(alice)).status_code == 404


@BOTH_STORES
def test_delete_batch_removes_items_jobs_and_every_object(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, settings: Settings
) -> None:
    key = new_key("batch-deleter")
    members = {"a/one.png": png_bytes("one"), "b/two.pdf": pdf_bytes(["two", "three"])}
    made = client.post(
        "/v1/batches", headers=auth(key), files={"file": ("a.zip", zip_of(members), "x/zip")}
    )
    batch_id = made.json()["id"]
    other = submit(client, key, png_bytes("other"), "o.png", "image/png")
    ingest_batch(ctx, batch_id)
    with ctx.sessions() as session:
        jobs = session.execute(select(Job.id, Job.tenant_id).where(Job.batch_id == batch_id))
        prefixes = [job_prefix(t, j) for j, t in jobs]
        tenant_id = session.get(Batch, batch_id).tenant_id  # type: ignore[union-attr]
    prefixes.append(batch_prefix(tenant_id, batch_id))
    for job_prefix_ in prefixes[:-1]:
        prepare_job(ctx, job_prefix_.rsplit("/", 1)[1])
    before = all_keys(settings)
    assert all(under(before, p) for p in prefixes)  # archive, sources, the PDF's page images

    answer = client.delete(f"/v1/batches/{batch_id}", headers=auth(key))

    assert answer.status_code == 204
    assert client.get(f"/v1/batches/{batch_id}", headers=auth(key)).status_code == 404
    assert client.delete(f"/v1/batches/{batch_id}", headers=auth(key)).status_code == 404
    assert count(ctx, Batch, Batch.id == batch_id) == 0
    assert count(ctx, BatchItem, BatchItem.batch_id == batch_id) == 0
    assert count(ctx, Job, Job.batch_id == batch_id) == 0
    after = all_keys(settings)
    assert after == {k for k in before if not any(k.startswith(p + "/") for p in prefixes)}
    assert under(after, job_prefix(tenant_id, other["id"]))  # the other job's file stays
    ingest_batch(ctx, batch_id)  # a late ingest message: nothing happens
    assert all_keys(settings) == after


@BOTH_STORES
def test_a_split_racing_a_delete_removes_what_it_stored_after_it(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = new_key("racing-split")
    job = submit(client, key, pdf_bytes(["a", "b", "c"]), "doc.pdf", PDF)
    put_bytes = ctx.store.put_bytes

    def delete_then_put(object_key: str, data: bytes, content_type: str) -> None:
        if object_key.endswith("/00001.png"):  # deleted while page 1 renders
            assert client.delete(f"/v1/jobs/{job['id']}", headers=auth(key)).status_code == 204
        put_bytes(object_key, data, content_type)

    monkeypatch.setattr(ctx.store, "put_bytes", delete_then_put)
    prepare_job(ctx, job["id"])

    assert not [k for k in all_keys(settings) if job["id"] in k]  # page 1 removed by its writer
    assert count(ctx, Page, Page.job_id == job["id"]) == 0
    assert ctx.engine.detector.calls == []  # type: ignore[attr-defined]


def test_a_canceled_job_counts_as_finished_in_its_batchs_progress(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("one-of-a-batch")
    files = [("files", (f"p{i}.png", png_bytes(f"page {i}"), "image/png")) for i in range(2)]
    made = client.post("/v1/batches", headers=auth(key), files=files, data={"callback_url": HOOK})
    batch_id = made.json()["id"]
    with ctx.sessions() as session:
        first, second = session.scalars(
            select(Job.id).where(Job.batch_id == batch_id).order_by(Job.filename)
        ).all()
    for job_id in (first, second):
        prepare_job(ctx, job_id)

    assert cancel(client, key, "jobs", first).status_code == 200
    running = client.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()
    assert running["status"] == "running"
    assert running["progress"] == 0.5  # the canceled job's page will never run
    assert running["jobs"]["canceled"] == 1
    ocr_page(ctx, second, 0)

    done = client.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()
    assert done["status"] == "partial" and done["progress"] == 1.0
    events = completions(ctx, "batch.completed", batch_id=batch_id)
    assert [(e["status"], e["jobs"]["canceled"]) for e in events] == [("partial", 1)]


def test_delete_of_one_job_of_a_batch_removes_its_item(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("member-deleter")
    files = [("files", (f"p{i}.png", png_bytes(f"page {i}"), "image/png")) for i in range(2)]
    batch_id = client.post("/v1/batches", headers=auth(key), files=files).json()["id"]
    with ctx.sessions() as session:
        gone, kept = session.scalars(
            select(Job.id).where(Job.batch_id == batch_id).order_by(Job.filename)
        ).all()

    assert client.delete(f"/v1/jobs/{gone}", headers=auth(key)).status_code == 204
    items = client.get(f"/v1/batches/{batch_id}/items", headers=auth(key)).json()["items"]
    assert [(i["path"], i["job_id"]) for i in items] == [("p1.png", kept)]
    prepare_job(ctx, kept)
    ocr_page(ctx, kept, 0)
    batch = client.get(f"/v1/batches/{batch_id}", headers=auth(key)).json()
    assert batch["status"] == "succeeded" and batch["items_total"] == 1
    assert batch["jobs"]["canceled"] == 0


def test_preparation_giving_up_leaves_a_canceled_job_canceled(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("gave-up")
    canceled = submit(client, key, png_bytes("a"), "a.png", "image/png", callback_url=HOOK)
    stuck = submit(client, key, png_bytes("b"), "b.png", "image/png")
    assert cancel(client, key, "jobs", canceled["id"]).status_code == 200
    for job in (canceled, stuck):  # what the prepare task does after its last attempt
        with transaction(ctx.sessions) as session:
            fail_unfinished_job(session, job["id"], AttemptsExhausted("store down"))

    statuses = [
        client.get(f"/v1/jobs/{j['id']}", headers=auth(key)).json()["status"]
        for j in (canceled, stuck)
    ]
    assert statuses == ["canceled", "failed"]
    events = completions(ctx, "job.completed", job_id=canceled["id"])
    assert [e["status"] for e in events] == ["canceled"]


def test_a_cancel_during_the_split_stops_it_at_the_next_page(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = new_key("mid-split")
    job = submit(client, key, pdf_bytes(["a", "b", "c", "d"]), "doc.pdf", PDF)
    rendering = prepare_module.iter_pages

    def cancel_after_the_first_page(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for n, page in enumerate(rendering(*args, **kwargs)):
            yield page
            if n == 0:  # page 0 is stored and has its row: the cancel comes now
                assert cancel(client, key, "jobs", job["id"]).status_code == 200

    monkeypatch.setattr(prepare_module, "iter_pages", cancel_after_the_first_page)
    prepare_job(ctx, job["id"])

    assert [p.index for p in pages_of(ctx, job["id"])] == [0]  # no row after the cancel
    assert [p.status for p in pages_of(ctx, job["id"])] == ["canceled"]
    polled = client.get(f"/v1/jobs/{job['id']}", headers=auth(key)).json()
    assert polled["status"] == "canceled" and polled["pages_total"] == 4
    with ctx.sessions() as session:
        owner = session.get(Job, job["id"])
        assert owner is not None
        tenant_id = owner.tenant_id
    assert ctx.store.exists(page_image_key(tenant_id, job["id"], 0, "png"))
    # Page 1 was rendered and stored before its row was refused: removed, not left behind.
    assert not ctx.store.exists(page_image_key(tenant_id, job["id"], 1, "png"))
