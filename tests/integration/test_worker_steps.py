"""prepare_job and ocr_page against real databases, Redis and a local store (fake engine)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import numpy as np
import pytest
import redis
from PIL import Image
from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.db.models import Job, Page
from shared.db.session import transaction
from tests.batch_inputs import pdf_bytes, tiff_bytes
from tests.fakes import fake_engine, striped_page
from tests.integration.test_api_jobs import queued_messages
from worker.context import WorkerContext
from worker.job_state import claim_page
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job

pytestmark = pytest.mark.integration


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


def load(ctx: WorkerContext, job_id: str) -> tuple[Job, list[Page]]:
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        pages = list(
            session.scalars(select(Page).where(Page.job_id == job_id).order_by(Page.index))
        )
        return job, pages


def test_prepare_creates_one_page_and_enqueues_it(
    ctx: WorkerContext,
    make_job: Callable[..., str],
    redis_client: redis.Redis,
) -> None:
    job_id = make_job(encode(striped_page([20])))
    prepare_job(ctx, job_id)
    prepare_job(ctx, job_id)  # a redelivered prepare creates no second page
    job, pages = load(ctx, job_id)
    assert job.pages_total == 1 and len(pages) == 1
    assert pages[0].image_key == job.source_key
    messages = queued_messages(redis_client, "gpu")
    assert {m["headers"]["task"] for m in messages} == {"quire.ocr_page"}


@pytest.mark.parametrize(
    ("data", "mime", "ext"),
    [
        (pdf_bytes(["one", "two", "three"]), "application/pdf", "pdf"),
        (tiff_bytes(["one", "two", "three"]), "image/tiff", "tif"),
    ],
    ids=["pdf", "multi-frame-tiff"],
)
def test_multipage_documents_are_split_into_page_images(
    ctx: WorkerContext,
    make_job: Callable[..., str],
    redis_client: redis.Redis,
    data: bytes,
    mime: str,
    ext: str,
) -> None:
    job_id = make_job(data, mime, ext)
    prepare_job(ctx, job_id)
    prepare_job(ctx, job_id)  # a rerun makes no second page and renders nothing again
    job, pages = load(ctx, job_id)
    assert job.pages_total == 3 and [p.index for p in pages] == [0, 1, 2]
    for page in pages:
        assert page.image_key.endswith(f"/pages/{page.index:05d}.png")
        assert Image.open(io.BytesIO(ctx.store.get_bytes(page.image_key))).format == "PNG"
    sent = [m for m in queued_messages(redis_client, "gpu")]
    assert len(sent) == 6  # three pages, sent again by the rerun (processing is idempotent)
    for index in range(3):
        ocr_page(ctx, job_id, index)
    job, _ = load(ctx, job_id)
    assert job.status == "succeeded" and job.pages_done == 3


@pytest.mark.parametrize(
    ("data", "mime", "ext", "code"),
    [
        (
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
            "application/pdf",
            "pdf",
            "corrupt_document",
        ),
        (None, "image/gif", "gif", "multipage_not_supported"),
    ],
    ids=["corrupt-pdf", "animated-gif"],
)
def test_unsplittable_documents_fail_cleanly(
    ctx: WorkerContext,
    make_job: Callable[..., str],
    data: bytes | None,
    mime: str,
    ext: str,
    code: str,
) -> None:
    if data is None:
        # Distinct frames: Pillow merges identical consecutive GIF frames into one.
        page = striped_page([20])
        frames = [Image.fromarray(page if i % 2 else 255 - page) for i in range(3)]
        out = io.BytesIO()
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
        data = out.getvalue()
    job_id = make_job(data, mime, ext)
    prepare_job(ctx, job_id)
    job, pages = load(ctx, job_id)
    assert job.status == "failed"
    assert job.error_code == code
    assert job.finished_at is not None
    assert pages == []


def test_ocr_page_writes_result_and_finishes_job(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    job_id = make_job(encode(striped_page([20, 30])))
    prepare_job(ctx, job_id)
    done_before = REGISTRY.get_sample_value("quire_worker_pages_total", {"outcome": "succeeded"})
    ocr_page(ctx, job_id, 0)
    done_after = REGISTRY.get_sample_value("quire_worker_pages_total", {"outcome": "succeeded"})
    assert (done_after or 0) - (done_before or 0) == 1
    job, pages = load(ctx, job_id)
    assert job.status == "succeeded"
    assert (job.pages_done, job.pages_failed) == (1, 0)
    assert job.started_at is not None and job.finished_at is not None
    page = pages[0]
    assert page.text == "line 200x20\nline 200x30"
    assert page.lines is not None and [line["bbox"] for line in page.lines] == [
        [0, 10, 200, 30],
        [0, 40, 200, 70],
    ]
    assert page.model == "fake-det+fake-rec"
    assert page.attempts == 1


def test_page_task_run_twice_leaves_one_result(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    job_id = make_job(encode(striped_page([20])))
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)
    first_job, first_pages = load(ctx, job_id)
    ocr_page(ctx, job_id, 0)  # a redelivered message
    job, pages = load(ctx, job_id)
    assert len(pages) == 1
    assert pages[0].attempts == 1  # the second run was skipped before the engine
    assert pages[0].finished_at == first_pages[0].finished_at
    assert job.finished_at == first_job.finished_at
    assert ctx.engine.recognizer.calls == [1]  # type: ignore[attr-defined]


def test_truncated_image_fails_page_and_job_with_code(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    data = encode(striped_page([20] * 30, width=600))
    job_id = make_job(data[: len(data) // 2])
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)
    job, pages = load(ctx, job_id)
    assert pages[0].status == "failed" and pages[0].error_code == "corrupt_image"
    assert job.status == "failed" and job.error_code == "corrupt_image"
    assert "page 0" in (job.error_message or "")


def test_failing_engine_fails_the_page_with_a_code(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    ctx._engine = fake_engine(poison_height=20)
    job_id = make_job(encode(striped_page([20])))
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)
    job, pages = load(ctx, job_id)
    assert pages[0].status == "failed" and pages[0].error_code == "engine_failed"
    assert "injected recognizer failure" in (pages[0].error_message or "")
    assert job.status == "failed" and job.error_code == "engine_failed"
    ctx.runner.close()


def test_page_that_never_finishes_is_dead_lettered(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    job_id = make_job(encode(striped_page([20])))
    prepare_job(ctx, job_id)
    for _ in range(ctx.settings.max_attempts):  # deliveries whose worker died mid-page
        with transaction(ctx.sessions) as session:
            assert claim_page(session, job_id, 0, ctx.settings.max_attempts) is not None
    ocr_page(ctx, job_id, 0)  # the delivery past the limit dead-letters the page
    job, pages = load(ctx, job_id)
    assert pages[0].status == "failed"
    assert pages[0].error_code == "attempts_exhausted"
    assert pages[0].attempts == ctx.settings.max_attempts + 1
    assert job.status == "failed" and job.error_code == "attempts_exhausted"
    assert ctx.engine.recognizer.calls == []  # type: ignore[attr-defined]


def test_concurrent_pages_finish_the_job_exactly_once(
    ctx: WorkerContext, make_job: Callable[..., str]
) -> None:
    job_id = make_job(encode(striped_page([20])))
    pages = 8
    with transaction(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        for index in range(pages):
            session.add(Page(job_id=job_id, index=index, image_key=job.source_key))
        job.pages_total = pages
    barrier = threading.Barrier(pages)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            ocr_page(ctx, job_id, index)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(pages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    job, rows = load(ctx, job_id)
    assert job.status == "succeeded"
    assert job.pages_done == pages
    assert all(r.status == "succeeded" for r in rows)
