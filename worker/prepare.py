"""``prepare_job`` (CPU queue): turn an uploaded file into page rows and page tasks.

A plain one-frame image submitted alone gets its page at submit (``api/submission.py``) and
never comes here; archives' members, animated images, PDFs and TIFFs do.

A PDF or multi-frame TIFF is rendered one page at a time; each page image goes to the store,
gets its row and its ``ocr_page`` message at once, so the GPU starts on page 1 while page 2
renders. A rerun (crash, redelivery) resumes after the last page row it finds.
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import media
from shared.celery_config import PRIORITY_BY_NAME
from shared.db.models import Job, JobStatus, Page, PageStatus, utcnow
from shared.db.session import transaction
from shared.errors import QuireError, UnsupportedDocument
from shared.imageinfo import inspect_image
from shared.objectkeys import page_image_key
from shared.queues import OCR_PAGE, TASK_QUEUES, ocr_page_payload
from shared.storage import ObjectStore
from worker.context import WorkerContext
from worker.documents import DocumentLimits, count_pages, iter_pages
from worker.job_state import fail_job, lock_job

log = logging.getLogger("quire.worker")


def check_single_page(data: bytes, mime: str, max_pixels: int) -> None:
    """Refuse a raster image that is not one page (an animated GIF or WebP)."""
    info = inspect_image(io.BytesIO(data), max_pixels)
    if info.frames > 1:
        raise UnsupportedDocument(
            f"the {mime} image has {info.frames} frames; only PDF and TIFF may have pages"
        )


def prepare_job(ctx: WorkerContext, job_id: str) -> None:
    """Create the page rows of a job and enqueue one ``ocr_page`` per queued page.

    Safe to run twice: pages are created once, and a rerun re-sends only the pages that
    a previous run created and that are still queued (their processing is idempotent).
    """
    with transaction(ctx.sessions) as session:
        job = lock_job(session, job_id)
        if job is None or JobStatus(job.status).terminal:
            log.info("prepare_job: job %s is gone or finished; nothing to do", job_id)
            return
        existing = _page_count(session, job_id)
        complete = job.pages_total > 0 and existing >= job.pages_total
        if not complete and ctx.worker_name is not None:  # a dead worker's split is reclaimed
            job.claimed_by, job.claimed_at = ctx.worker_name, utcnow()
    if existing:  # a rerun: send again what the earlier run left queued
        _enqueue_queued_pages(ctx, job, below=existing)
    if complete:
        return
    try:
        _split(ctx, job, start=existing)
    except QuireError as e:
        if e.retryable:
            raise
        with transaction(ctx.sessions) as session:
            locked = lock_job(session, job_id)
            if locked is not None and not JobStatus(locked.status).terminal:
                fail_job(session, locked, e)


def _split(ctx: WorkerContext, job: Job, start: int) -> None:
    if job.media_type not in media.MULTI_PAGE:
        check_single_page(
            ctx.store.get_bytes(job.source_key), job.media_type, ctx.settings.max_image_pixels
        )
        _add_page(ctx, job, 0, job.source_key, pages_total=1)
        return
    limits = DocumentLimits.from_settings(ctx.settings)
    with tempfile.TemporaryDirectory(prefix="quire-doc-") as folder:
        path = Path(folder) / "source"
        _download(ctx.store, job.source_key, path)
        total = count_pages(path, job.media_type, limits)
        if total == 1 and job.media_type == media.TIFF.mime:
            _add_page(ctx, job, 0, job.source_key, pages_total=1)
            return
        for page in iter_pages(path, job.media_type, limits, start=start):
            key = page_image_key(job.tenant_id, job.id, page.index, "png")
            ctx.store.put_bytes(key, page.png, media.PNG.mime)
            if not _add_page(ctx, job, page.index, key, pages_total=total):
                log.info("prepare_job: job %s was canceled or deleted; split stops", job.id)
                return


def _download(store: ObjectStore, key: str, path: Path) -> None:
    with store.open_reader(key) as source, path.open("wb") as target:
        shutil.copyfileobj(source, target, 1024 * 1024)


def _add_page(ctx: WorkerContext, job: Job, index: int, image_key: str, pages_total: int) -> bool:
    """Insert one page row (once) and send its task; False if the job has ended meanwhile.

    The row is checked after the image was stored: a job deleted in between loses its rows
    first and its objects after, so the image just stored is removed here.
    """
    with transaction(ctx.sessions) as session:
        locked = lock_job(session, job.id)
        live = locked is not None and not JobStatus(locked.status).terminal
        if locked is not None and live:
            exists = session.scalar(
                select(Page.id).where(Page.job_id == job.id, Page.index == index)
            )
            if exists is None:
                session.add(Page(job_id=job.id, index=index, image_key=image_key))
            locked.pages_total = pages_total
    if not live:
        if image_key != job.source_key:
            ctx.store.delete(image_key)
        return False
    _send_page(ctx, job, index)
    return True


def _page_count(session: Session, job_id: str) -> int:
    return int(session.scalar(select(func.count()).where(Page.job_id == job_id)) or 0)


def _enqueue_queued_pages(ctx: WorkerContext, job: Job, below: int) -> None:
    with transaction(ctx.sessions) as session:
        indexes = session.scalars(
            select(Page.index).where(
                Page.job_id == job.id,
                Page.status == PageStatus.QUEUED.value,
                Page.index < below,
            )
        ).all()
    for index in indexes:
        _send_page(ctx, job, index)


def _send_page(ctx: WorkerContext, job: Job, index: int) -> None:
    ctx.producer.send_task(
        OCR_PAGE,
        kwargs=ocr_page_payload(job.id, index),
        queue=TASK_QUEUES[OCR_PAGE],
        priority=PRIORITY_BY_NAME[job.priority],
    )
