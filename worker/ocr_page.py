"""``ocr_page`` (GPU queue): one page through the engine, its result written once."""

from __future__ import annotations

import logging
import time

from shared.db.session import transaction
from shared.errors import QuireError
from worker.context import WorkerContext
from worker.images import decode_page
from worker.job_state import claim_page, record_page_failure, record_page_result
from worker.metrics import PAGE_SECONDS, PAGES, QUEUE_WAIT, observe_gpu_memory

log = logging.getLogger("quire.worker")


def ocr_page(ctx: WorkerContext, job_id: str, index: int) -> None:
    """Claim the page, read its image, run the engine, store the result.

    Non-retryable errors (a corrupt image, say) fail the page with their code; retryable
    ones propagate so the task wrapper can retry with backoff.
    """
    with transaction(ctx.sessions) as session:
        claim = claim_page(
            session,
            job_id,
            index,
            ctx.settings.max_attempts,
            ctx.worker_name,
            ctx.settings.effective_page_lease_seconds,
        )
    if claim is None:
        return
    QUEUE_WAIT.observe(claim.queued_seconds)
    ctx.in_flight.add(1)  # the heartbeat reports it: the scaler keeps busy workers
    started = time.perf_counter()
    try:
        PAGES.labels(_process(ctx, job_id, index, claim.image_key, claim.model_choice)).inc()
    finally:
        ctx.in_flight.add(-1)
        PAGE_SECONDS.observe(time.perf_counter() - started)
        observe_gpu_memory()


def _process(
    ctx: WorkerContext,
    job_id: str,
    index: int,
    image_key: str,
    model_choice: dict[str, str | None] | None = None,
) -> str:
    ids = {"job_id": job_id, "page_index": index}
    try:
        pixels = decode_page(ctx.store.get_bytes(image_key), ctx.settings.max_image_pixels)
        with ctx.runner_for(model_choice) as runner:
            result = runner.run_page(pixels)
    except QuireError as e:
        if e.retryable:
            raise
        with transaction(ctx.sessions) as session:
            record_page_failure(session, job_id, index, e, ctx.worker_name)
        log.info("page %s/%s failed: %s", job_id, index, e.code, extra=ids)
        return "failed"
    with transaction(ctx.sessions) as session:
        written = record_page_result(session, job_id, index, result, runner.name, ctx.worker_name)
    log.info(
        "page %s/%s: %d lines%s",
        job_id,
        index,
        len(result.lines),
        "" if written else " (already recorded)",
        extra=ids,
    )
    return "succeeded"
