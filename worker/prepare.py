"""``prepare_job`` (CPU queue): turn an uploaded file into page rows and page tasks."""

from __future__ import annotations

import io
import logging

from sqlalchemy import select

from shared import media
from shared.celery_config import PRIORITY_BY_NAME
from shared.db.models import JobStatus, Page, PageStatus
from shared.db.session import transaction
from shared.errors import QuireError, UnsupportedDocument
from shared.imageinfo import inspect_image
from shared.queues import OCR_PAGE, TASK_QUEUES, ocr_page_payload
from worker.context import WorkerContext
from worker.job_state import fail_job, lock_job

log = logging.getLogger("quire.worker")


def check_single_page(data: bytes, mime: str, max_pixels: int) -> None:
    """Refuse what this release cannot split into pages (PDF, multi-frame TIFF)."""
    kind = media.by_mime(mime)
    if kind is None or not kind.raster:
        raise UnsupportedDocument(f"{mime} documents are not supported yet; send images")
    info = inspect_image(io.BytesIO(data), max_pixels)
    if info.frames > 1:
        raise UnsupportedDocument(f"the image has {info.frames} frames; send one page per job")


def prepare_job(ctx: WorkerContext, job_id: str) -> None:
    """Create the page rows of a job, then enqueue one ``ocr_page`` per queued page.

    Safe to run twice: pages are created once, and a rerun only re-sends pages that
    are still queued (their processing is idempotent).
    """
    with transaction(ctx.sessions) as session:
        job = lock_job(session, job_id)
        if job is None or JobStatus(job.status).terminal:
            log.info("prepare_job: job %s is gone or finished; nothing to do", job_id)
            return
        source_key, mime, has_pages = job.source_key, job.media_type, job.pages_total > 0
        priority = PRIORITY_BY_NAME[job.priority]
    if not has_pages:
        try:
            check_single_page(ctx.store.get_bytes(source_key), mime, ctx.settings.max_image_pixels)
        except QuireError as e:
            if e.retryable:
                raise
            with transaction(ctx.sessions) as session:
                job = lock_job(session, job_id)
                if job is not None and not JobStatus(job.status).terminal:
                    fail_job(session, job, e)
            return
        _create_pages(ctx, job_id, [source_key])
    _enqueue_queued_pages(ctx, job_id, priority)


def _create_pages(ctx: WorkerContext, job_id: str, image_keys: list[str]) -> None:
    with transaction(ctx.sessions) as session:
        job = lock_job(session, job_id)
        if job is None or job.pages_total > 0:
            return
        for index, key in enumerate(image_keys):
            session.add(Page(job_id=job_id, index=index, image_key=key))
        job.pages_total = len(image_keys)


def _enqueue_queued_pages(ctx: WorkerContext, job_id: str, priority: int) -> None:
    with transaction(ctx.sessions) as session:
        indexes = session.scalars(
            select(Page.index).where(Page.job_id == job_id, Page.status == PageStatus.QUEUED.value)
        ).all()
    for index in indexes:
        ctx.producer.send_task(
            OCR_PAGE,
            kwargs=ocr_page_payload(job_id, index),
            queue=TASK_QUEUES[OCR_PAGE],
            priority=priority,
        )
