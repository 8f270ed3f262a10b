"""Accept a batch: an archive (sent here or through ``/v1/uploads``) read later on the CPU
queue, or several files that become jobs at once.

As for single jobs, objects are written first, rows second, messages last, and a failure
undoes what came before it.

``on_duplicate`` is kept on the batch: the files of a multi-file batch are checked here, as
they arrive; an archive's members by the CPU worker as it reads them (``worker/ingest.py``),
since a presigned upload's bytes never pass through the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session, sessionmaker

from api.caller import TenantRef
from api.duplicate_uploads import earlier_to_reuse, member_duplicate
from api.idempotency import IdempotencyClaim
from api.multipart_stream import ReceivedFile
from api.submission import SubmitOptions, check_upload, send_or_defer
from shared import media
from shared.db.models import Batch, BatchItem, BatchStatus, Job, Upload, new_id, utcnow
from shared.db.session import transaction
from shared.duplicates import reuse_result
from shared.errors import (
    DuplicateUpload,
    InvalidRequest,
    QuireError,
    UnsupportedMediaType,
    UploadIncomplete,
)
from shared.lifecycle import refresh_batch
from shared.objectkeys import batch_source_key, source_key
from shared.queues import INGEST_BATCH, PREPARE_JOB, ingest_batch_payload, prepare_job_payload
from shared.settings import DuplicatePolicy, Settings
from shared.storage import ObjectStore
from shared.task_sender import TaskSender

log = logging.getLogger("quire.api")


@dataclass(frozen=True)
class BatchDeps:
    """What creating a batch touches."""

    store: ObjectStore
    sessions: sessionmaker[Session]
    tasks: TaskSender


def archive_kind(head: bytes) -> str:
    """The archive format of an upload's first bytes; 415 if it is not one."""
    kind = media.sniff_archive(head)
    if kind is None:
        raise UnsupportedMediaType(f"the batch file must be a {media.ARCHIVE_NAMES} archive")
    return kind


def create_archive_batch(
    tenant: TenantRef,
    upload: ReceivedFile,
    options: SubmitOptions,
    deps: BatchDeps,
    claim: IdempotencyClaim | None = None,
) -> Batch:
    """Store an archive sent in the request and queue its ingest."""
    kind = archive_kind(upload.head)
    batch_id = new_id()
    key = batch_source_key(tenant.id, batch_id, media.ARCHIVE_EXTENSIONS[kind])
    deps.store.put_stream(key, upload.spool, "application/octet-stream")
    batch = _archive_batch(batch_id, tenant, options, key, upload.filename, upload.size)
    return _commit_and_ingest(batch, deps, claim, on_failure=lambda: deps.store.delete(key))


def create_uploaded_batch(
    tenant: TenantRef,
    upload: Upload,
    options: SubmitOptions,
    deps: BatchDeps,
    claim: IdempotencyClaim | None = None,
) -> Batch:
    """Queue the ingest of an archive sent with presigned URLs (the object is reused)."""
    if upload.status != "completed":
        raise UploadIncomplete("complete the upload before making a batch of it")
    with deps.store.open_reader(upload.key) as reader:
        archive_kind(reader.read(media.ARCHIVE_SNIFF_BYTES))
    batch = _archive_batch(
        new_id(), tenant, options, upload.key, upload.filename, upload.size_bytes
    )
    return _commit_and_ingest(batch, deps, claim, on_failure=lambda: None)


def _archive_batch(
    batch_id: str, tenant: TenantRef, options: SubmitOptions, key: str, filename: str, size: int
) -> Batch:
    return Batch(
        id=batch_id,
        tenant_id=tenant.id,
        priority=options.priority.value,
        source_key=key,
        filename=filename[:512],
        size_bytes=size,
        callback_url=options.callback_url,
        metadata_=options.metadata,
        on_duplicate=options.on_duplicate.value,
        model_choice=options.model_choice,
    )


def _commit_and_ingest(
    batch: Batch,
    deps: BatchDeps,
    claim: IdempotencyClaim | None,
    on_failure: Callable[[], None],
) -> Batch:
    try:
        with transaction(deps.sessions) as session:
            session.add(batch)
            if claim is not None:
                session.add(claim.row("batch", batch.id))
    except BaseException:
        on_failure()
        raise
    send_or_defer(deps.tasks, INGEST_BATCH, ingest_batch_payload(batch.id), batch.priority)
    return batch


@dataclass(frozen=True)
class FileItem:
    """One file of a multi-file batch: its job, or why it was skipped."""

    seq: int
    path: str
    size: int
    job_id: str | None = None
    key: str = ""
    mime: str = ""
    skip: QuireError | None = None
    content_sha256: str | None = None
    duplicate_of: str | None = None  # the earlier job whose result it reuses


def create_files_batch(
    tenant: TenantRef,
    files: list[ReceivedFile],
    options: SubmitOptions,
    settings: Settings,
    deps: BatchDeps,
    claim: IdempotencyClaim | None = None,
) -> Batch:
    """Each file becomes a job of a new batch at once; files that are not documents are
    recorded as skipped items, as archive members would be, and so are duplicates under
    ``on_duplicate=reject``; under ``reuse`` a duplicate's job is succeeded at once."""
    batch_id = new_id()
    items = _store_files(tenant, files, options, settings, deps)
    if all(item.job_id is None for item in items):
        _delete_objects(deps.store, items)
        reasons = "; ".join(f"{i.path}: {i.skip.message}" for i in items if i.skip)
        raise InvalidRequest(f"none of the files is a document quire can read ({reasons})")
    batch = Batch(
        id=batch_id,
        tenant_id=tenant.id,
        status=BatchStatus.RUNNING.value,
        priority=options.priority.value,
        filename=f"{len(files)} files",
        size_bytes=sum(i.size for i in items),
        callback_url=options.callback_url,
        metadata_=options.metadata,
        on_duplicate=options.on_duplicate.value,
        model_choice=options.model_choice,
        items_total=len(items),
        items_skipped=sum(i.job_id is None for i in items),
        next_seq=len(items),
        ingested_at=utcnow(),
    )
    try:
        with transaction(deps.sessions) as session:
            session.add(batch)
            session.flush()
            reused = _add_items(session, batch, items)
            if claim is not None:
                session.add(claim.row("batch", batch_id))
            if reused:
                refresh_batch(session, batch_id)  # every job may have been reused
    except BaseException:
        _delete_objects(deps.store, items)
        raise
    _send_jobs(deps, batch, [i for i in items if i.job_id not in reused])
    return batch


def _add_items(session: Session, batch: Batch, items: list[FileItem]) -> set[str]:
    """Add the items and their jobs; returns the ids of the jobs that reused a result."""
    reused: set[str] = set()
    for item in items:
        session.add(_item_row(batch, item))
        if item.job_id is None:
            continue
        job = _job_row(batch, item)
        if item.duplicate_of and reuse_result(session, job, item.duplicate_of, update_batch=False):
            reused.add(item.job_id)
        else:
            session.add(job)
    return reused


def _earlier_to_reuse(
    deps: BatchDeps, tenant: TenantRef, upload: ReceivedFile, policy: DuplicatePolicy
) -> str | None:
    """The earlier job a file reuses; a rejected duplicate raises ``DuplicateContent``."""
    if policy is DuplicatePolicy.PROCESS:
        return None
    try:
        with transaction(deps.sessions) as session:
            return earlier_to_reuse(session, tenant.id, upload.content_sha256, policy)
    except DuplicateUpload as e:
        raise member_duplicate(e) from e


def _store_files(
    tenant: TenantRef,
    files: list[ReceivedFile],
    options: SubmitOptions,
    settings: Settings,
    deps: BatchDeps,
) -> list[FileItem]:
    items: list[FileItem] = []
    seen: set[str] = set()
    for seq, upload in enumerate(files):
        path = upload.filename or f"file-{seq + 1}"
        if path in seen:
            skip = InvalidRequest(f"another file is named {path!r}")
            items.append(FileItem(seq, path, upload.size, skip=skip))
            continue
        seen.add(path)
        try:
            kind = check_upload(upload, settings).kind
            earlier = _earlier_to_reuse(deps, tenant, upload, options.on_duplicate)
        except QuireError as e:
            if e.retryable:
                raise
            items.append(FileItem(seq, path, upload.size, skip=e))
            continue
        job_id = new_id()
        key = source_key(tenant.id, job_id, kind.extension)
        deps.store.put_stream(key, upload.spool, kind.mime)
        item = FileItem(seq, path, upload.size, job_id, key, kind.mime)
        items.append(replace(item, content_sha256=upload.content_sha256, duplicate_of=earlier))
    return items


def _item_row(batch: Batch, item: FileItem) -> BatchItem:
    skip_code = None if item.skip is None else item.skip.code
    skip_reason = None if item.skip is None else item.skip.message[:2000]
    return BatchItem(
        batch_id=batch.id,
        seq=item.seq,
        path=item.path[:1024],
        job_id=item.job_id,
        size_bytes=item.size,
        skip_code=skip_code,
        skip_reason=skip_reason,
    )


def _job_row(batch: Batch, item: FileItem) -> Job:
    return Job(
        id=item.job_id,
        tenant_id=batch.tenant_id,
        priority=batch.priority,
        source_key=item.key,
        media_type=item.mime,
        filename=item.path[-512:],
        size_bytes=item.size,
        batch_id=batch.id,
        content_sha256=item.content_sha256,
        model_choice=batch.model_choice,
    )


def _send_jobs(deps: BatchDeps, batch: Batch, items: list[FileItem]) -> None:
    for item in items:
        if item.job_id is not None:
            payload = prepare_job_payload(item.job_id)
            send_or_defer(deps.tasks, PREPARE_JOB, payload, batch.priority)


def _delete_objects(store: ObjectStore, items: list[FileItem]) -> None:
    for item in items:
        if item.key:
            store.delete(item.key)
