"""Accept one uploaded file as a job: check it, store it, record it, enqueue it.

The order keeps the store and the database consistent: the object is written first, the row
second, the message last. If the row cannot be written the object is removed again, so no
object is left without a row. Once the row is committed the job is accepted: if the queue
cannot take its message, the sweeper's reconcile pass sends it when the broker is back
(``worker/reconcile.py``), so an upload is never lost to a broker outage.

A file the tenant sent before (same SHA-256) is refused before anything is stored under
``on_duplicate=reject``, and under ``reuse`` becomes a job that is succeeded at once with the
earlier result copied, and sends no task (``api/duplicate_uploads.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.caller import TenantRef
from api.duplicate_uploads import check_submission, insert_reusing_job
from api.idempotency import IdempotencyClaim
from api.job_rows import insert_job_rows
from api.multipart_stream import ReceivedFile
from shared import media
from shared.celery_config import PRIORITY_BY_NAME
from shared.db.models import (
    Job,
    JobStatus,
    Priority,
    Tenant,
    new_id,
    utcnow,
)
from shared.db.session import transaction
from shared.duplicates import parse_policy
from shared.egress import check_url_syntax, policy_from_settings
from shared.errors import (
    EmptyUpload,
    InvalidRequest,
    NotFound,
    UnsupportedMediaType,
)
from shared.imageinfo import inspect_image
from shared.model_registry import job_model_choice
from shared.objectkeys import source_key
from shared.queues import OCR_PAGE, PREPARE_JOB, TASK_QUEUES, ocr_page_payload, prepare_job_payload
from shared.settings import DuplicatePolicy, Settings
from shared.storage import ObjectStore
from shared.task_sender import TaskSender

log = logging.getLogger("quire.api")
MAX_METADATA_BYTES = 16 * 1024


@dataclass(frozen=True)
class SubmitOptions:
    """The optional form fields of a submission."""

    priority: Priority = Priority.INTERACTIVE
    callback_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # What a file the tenant uploaded before does; QUIRE_ON_DUPLICATE when the request is silent.
    on_duplicate: DuplicatePolicy = DuplicatePolicy.PROCESS
    # The ``model`` field as sent, and what it resolved to (see ``with_model_choice``).
    model: str | None = None
    model_choice: dict[str, Any] | None = None


def parse_options(
    fields: dict[str, str], settings: Settings, default_priority: Priority = Priority.INTERACTIVE
) -> SubmitOptions:
    """Validate the text fields of ``POST /v1/jobs`` and ``POST /v1/batches``."""
    unknown = set(fields) - {"priority", "callback_url", "metadata", "on_duplicate", "model"}
    if unknown:
        raise InvalidRequest(f"unknown form fields: {', '.join(sorted(unknown))}")
    try:
        priority = Priority(fields.get("priority") or default_priority)
    except ValueError as e:
        raise InvalidRequest("priority must be 'interactive' or 'bulk'") from e
    return SubmitOptions(
        priority,
        checked_callback_url(fields.get("callback_url"), settings),
        _metadata(fields.get("metadata")),
        parse_policy(fields.get("on_duplicate"), settings.on_duplicate),
        fields.get("model") or None,
    )


def with_model_choice(
    options: SubmitOptions, sessions: sessionmaker[Session], tenant_id: str, settings: Settings
) -> SubmitOptions:
    """The options with ``model`` (or the tenant's defaults) resolved to the models the
    jobs will use; an unknown or foreign model is a 422 ``unknown_model`` now, at submit."""
    with transaction(sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        choice = job_model_choice(session, tenant, options.model, settings.builtin_models_dir)
    return replace(options, model_choice=choice)


def options_from_json(
    priority: str,
    callback_url: str | None,
    metadata: dict[str, Any],
    settings: Settings,
    on_duplicate: str | None = None,
    model: str | None = None,
) -> SubmitOptions:
    """The same options, sent as JSON fields instead of form fields."""
    encoded = json.dumps(metadata)
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata exceeds {MAX_METADATA_BYTES} bytes")
    return SubmitOptions(
        Priority(priority),
        checked_callback_url(callback_url, settings),
        metadata,
        parse_policy(on_duplicate, settings.on_duplicate),
        model or None,
    )


def checked_callback_url(value: str | None, settings: Settings) -> str | None:
    # Syntax and scheme now; the address is checked at each delivery (DNS can change).
    if not value:
        return None
    check_url_syntax(value, policy_from_settings(settings))
    return value


def _metadata(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    if len(value.encode()) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata exceeds {MAX_METADATA_BYTES} bytes")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise InvalidRequest(f"metadata is not valid JSON: {e.msg}") from e
    if not isinstance(parsed, dict):
        raise InvalidRequest("metadata must be a JSON object")
    return parsed


@dataclass(frozen=True)
class CheckedUpload:
    """An upload's type, and whether it is one page to be made at once."""

    kind: media.MediaType
    # One frame of a plain image: its page row is made with the job and its OCR task sent
    # at once, skipping the CPU worker's split step (the common case, and the fastest).
    single_page: bool = False


def check_upload(upload: ReceivedFile | None, settings: Settings) -> CheckedUpload:
    """The upload's type from its magic bytes; raster images also get a header check."""
    if upload is None:
        raise InvalidRequest("the form has no 'file' part")
    if upload.size == 0:
        raise EmptyUpload("the uploaded file is empty")
    kind = media.sniff(upload.head)
    if kind is None:
        accepted = ", ".join(m.mime for m in media.ACCEPTED)
        raise UnsupportedMediaType(f"the file is not a supported type ({accepted})")
    if not kind.raster:
        return CheckedUpload(kind)
    info = inspect_image(upload.spool, settings.max_image_pixels)
    upload.spool.seek(0)
    return CheckedUpload(kind, single_page=info.frames == 1 and kind.mime not in media.MULTI_PAGE)


def create_job(
    *,
    tenant: TenantRef,
    upload: ReceivedFile,
    checked: CheckedUpload,
    options: SubmitOptions,
    store: ObjectStore,
    engine: Engine,
    tasks: TaskSender,
    claim: IdempotencyClaim | None = None,
) -> Job:
    """Store the upload, insert the job row (with its page row for a one-page image, and
    its idempotency key if it came with one) and send its first task: ``ocr_page`` for a
    one-page image, ``prepare_job`` otherwise. Returns the job as inserted (not bound to a
    session).

    A duplicate of an earlier upload is refused first under ``reject`` (``DuplicateUpload``,
    nothing stored); under ``reuse`` the job is inserted succeeded, the earlier result copied,
    and no task is sent.
    """
    job = new_job(tenant, upload, checked, options, content_sha256=upload.content_sha256)
    earlier = check_submission(engine, tenant.id, upload.content_sha256, options.on_duplicate)
    store.put_stream(job.source_key, upload.spool, checked.kind.mime)
    try:
        if earlier is not None and insert_reusing_job(engine, job, earlier, claim):
            return job
        insert_job_rows(engine, job, first_page=checked.single_page, claim=claim)
    except BaseException:
        store.delete(job.source_key)
        raise
    if checked.single_page:
        send_or_defer(tasks, OCR_PAGE, ocr_page_payload(job.id, 0), job.priority)
    else:
        enqueue_prepare(tasks, job)
    return job


class NamedFile(Protocol):
    """What a job row records of its file."""

    @property
    def filename(self) -> str: ...

    @property
    def size(self) -> int: ...


def new_job(
    tenant: TenantRef,
    upload: NamedFile,
    checked: CheckedUpload,
    options: SubmitOptions,
    *,
    content_sha256: str | None = None,
) -> Job:
    """A queued job for an upload, every column set (nothing left to insert defaults)."""
    job_id, now = new_id(), utcnow()
    return Job(
        id=job_id,
        tenant_id=tenant.id,
        status=JobStatus.QUEUED.value,
        priority=options.priority.value,
        source_key=source_key(tenant.id, job_id, checked.kind.extension),
        media_type=checked.kind.mime,
        filename=upload.filename[:512],
        size_bytes=upload.size,
        pages_total=1 if checked.single_page else 0,
        pages_done=0,
        pages_failed=0,
        error_code=None,
        error_message=None,
        metadata_=options.metadata,
        callback_url=options.callback_url,
        batch_id=None,
        model=None,
        model_choice=options.model_choice,
        content_sha256=content_sha256,
        duplicate_of=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
    )


def enqueue_prepare(tasks: TaskSender, job: Job) -> None:
    """Send ``prepare_job`` for a committed job row (later, by the sweeper, if it fails)."""
    send_or_defer(tasks, PREPARE_JOB, prepare_job_payload(job.id), job.priority)


def send_or_defer(tasks: TaskSender, task: str, payload: dict[str, object], priority: str) -> bool:
    """Send a task for work the database already records, at a named priority.

    Returns:
        Whether the broker took it. When it did not, the failure is logged and the work stays
        in the database, where the sweeper's reconcile pass finds it and sends it again.
    """
    try:
        tasks.send(task, payload, TASK_QUEUES[task], PRIORITY_BY_NAME[priority])
    except (RedisError, OSError) as e:
        log.warning("enqueue of %s %s failed, left for the sweeper: %s", task, payload, e)
        return False
    return True
