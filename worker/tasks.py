"""The Celery tasks: thin wrappers that check the payload, run a step and apply the retry
policy. The steps themselves (``prepare``, ``ocr_page``) know nothing of Celery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from shared.db.session import transaction
from shared.errors import AttemptsExhausted, QuireError
from shared.queues import (
    DELIVER_WEBHOOK,
    IMPORT_DATASET,
    INGEST_BATCH,
    OCR_PAGE,
    PAYLOAD_VERSION,
    PREPARE_JOB,
    RUN_TRAINING,
)
from worker.context import WorkerContext
from worker.ingest import ingest_batch, stop_ingest
from worker.job_state import fail_unfinished_job, note_page_error
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.retry_policy import backoff_seconds, is_retryable
from worker.webhook_delivery import deliver_webhook

log = logging.getLogger("quire.worker")
TRAINING_TIME_LIMIT = 7 * 24 * 3600
Step = Callable[[WorkerContext], None]
OnGiveUp = Callable[[WorkerContext, BaseException], None]
OnRetry = Callable[[WorkerContext, BaseException], None]


def run_step(
    task: Task,
    ctx: WorkerContext,
    version: int,
    step: Step,
    on_retry: OnRetry | None = None,
    on_give_up: OnGiveUp | None = None,
) -> None:
    """Run one step under the queue's retry policy."""
    if version != PAYLOAD_VERSION:
        log.error("%s: unknown payload version %r; message dropped", task.name, version)
        return
    try:
        step(ctx)
    except Exception as e:
        retries = task.request.retries
        if not is_retryable(e):
            # Bad input or a missing object: no retry will help, so the row ends now with
            # the error's own code (left as it was, the reconcile pass would resend it).
            log.exception("%s failed without retry", task.name)
            if on_give_up is not None:
                _quietly(on_give_up, ctx, e)
            return
        if on_give_up is not None and retries + 1 >= ctx.settings.max_attempts:
            log.error("%s: giving up after %d attempts: %s", task.name, retries + 1, e)
            _quietly(on_give_up, ctx, e)
            return
        if on_retry is not None:
            _quietly(on_retry, ctx, e)
        delay = backoff_seconds(retries + 1, ctx.settings.retry_backoff_seconds)
        log.warning("%s: retry in %.1fs after %s: %s", task.name, delay, type(e).__name__, e)
        raise task.retry(exc=e, countdown=delay, max_retries=None) from e


def final_error(error: BaseException, what: str) -> QuireError:
    """The error a row ends with: a non-retryable ``QuireError`` as it is (its code tells the
    user what was wrong), anything else as attempts exhausted."""
    if isinstance(error, QuireError) and not error.retryable:
        return error
    return AttemptsExhausted(f"{what} failed: {error}")


def _quietly(
    callback: Callable[[WorkerContext, BaseException], None],
    ctx: WorkerContext,
    error: BaseException,
) -> None:
    try:
        callback(ctx, error)
    except QuireError as e:  # the database may be the thing that is down
        log.warning("could not record the error: %s", e)


def register_tasks(app: Celery, ctx: WorkerContext) -> dict[str, Any]:
    """Define quire's tasks on ``app``; they run against ``ctx``."""

    # shared=False: the tasks belong to ``app`` alone. Celery's default adds every decorated
    # task to each app made later in the process, and since Celery 5.7 the first callable
    # registered under a name wins, so a second app could not define its own.
    @app.task(name=PREPARE_JOB, bind=True, shared=False)
    def prepare_job_task(self: Task, v: int, job_id: str) -> None:
        def give_up(c: WorkerContext, e: BaseException) -> None:
            with transaction(c.sessions) as session:
                fail_unfinished_job(session, job_id, final_error(e, "preparing the job"))

        run_step(self, ctx, v, lambda c: prepare_job(c, job_id), on_give_up=give_up)

    @app.task(name=OCR_PAGE, bind=True, shared=False)
    def ocr_page_task(self: Task, v: int, job_id: str, page_index: int) -> None:
        # Attempts are counted in the database when the page is claimed, so the page is
        # dead-lettered there; Celery's own retry count is not the limit.
        def remember(c: WorkerContext, e: BaseException) -> None:
            with transaction(c.sessions) as session:
                note_page_error(session, job_id, page_index, f"{type(e).__name__}: {e}")

        run_step(self, ctx, v, lambda c: ocr_page(c, job_id, page_index), on_retry=remember)

    @app.task(name=INGEST_BATCH, bind=True, shared=False)
    def ingest_batch_task(self: Task, v: int, batch_id: str) -> None:
        def give_up(c: WorkerContext, e: BaseException) -> None:
            stop_ingest(c, batch_id, final_error(e, "reading the archive"))

        run_step(self, ctx, v, lambda c: ingest_batch(c, batch_id), on_give_up=give_up)

    @app.task(name=DELIVER_WEBHOOK, bind=True, shared=False)
    def deliver_webhook_task(self: Task, v: int, delivery_id: str) -> None:
        # Webhook retries are scheduled in the database; a failure here (the database is
        # down, say) leaves the row pending and the sweeper sends it again later.
        run_step(
            self, ctx, v, lambda c: deliver_webhook(c, delivery_id), on_give_up=lambda _c, _e: None
        )

    @app.task(name=IMPORT_DATASET, bind=True, shared=False)
    def import_dataset_task(self: Task, v: int, dataset_id: str) -> None:
        from training.service.dataset_import import fail_import, import_dataset

        def give_up(c: WorkerContext, e: BaseException) -> None:
            fail_import(c, dataset_id, final_error(e, "importing the dataset"))

        run_step(self, ctx, v, lambda c: import_dataset(c, dataset_id), on_give_up=give_up)

    # Trainings run for hours: a week's limit (None would mean the pages' limit); the lease
    # in the database, not the broker's visibility timeout, decides who runs one, and the
    # sweeper resends a training whose lease lapsed.
    @app.task(
        name=RUN_TRAINING,
        bind=True,
        shared=False,
        soft_time_limit=TRAINING_TIME_LIMIT,
        time_limit=TRAINING_TIME_LIMIT + 60,
    )
    def run_training_task(self: Task, v: int, training_id: str) -> None:
        from training.service.runner import run_training

        run_step(
            self, ctx, v, lambda c: run_training(c, training_id), on_give_up=lambda _c, _e: None
        )

    return {
        IMPORT_DATASET: import_dataset_task,
        RUN_TRAINING: run_training_task,
        PREPARE_JOB: prepare_job_task,
        OCR_PAGE: ocr_page_task,
        DELIVER_WEBHOOK: deliver_webhook_task,
        INGEST_BATCH: ingest_batch_task,
    }
