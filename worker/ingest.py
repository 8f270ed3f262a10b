"""``ingest_batch`` (CPU queue): read an archive from the store, member by member, and make
each document in it a job of the batch.

The archive is streamed (ranged reads for zip, one forward pass for tar), never unpacked
whole. Progress is committed in small groups with the next member's sequence number, so a
crash or the end of a time slice resumes where it stopped; job ids derive from (batch,
member), so a member stored twice after a crash is still one job.

Each member is hashed (SHA-256) as it streams into the store: the archive may have come
through a presigned upload, whose bytes the API never sees. Under the batch's
``on_duplicate``, a member with the content of an earlier succeeded job of the tenant is
skipped (``reject``: ``duplicate_content``) or becomes a job that reuses that job's result
(``reuse``: succeeded at once, no task). Members of the same batch count as earlier jobs
only once they have succeeded, so two equal members of one archive are both processed.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import media
from shared.celery_config import PRIORITY_BY_NAME
from shared.db.models import Batch, BatchItem, BatchStatus, Job, utcnow
from shared.db.session import transaction
from shared.duplicates import find_earlier_job, reuse_result
from shared.errors import CorruptArchive, DuplicateContent, ObjectMissing, QuireError
from shared.lifecycle import finish_batch, lock_batch, refresh_batch
from shared.objectkeys import source_key
from shared.queues import (
    INGEST_BATCH,
    PREPARE_JOB,
    TASK_QUEUES,
    ingest_batch_payload,
    prepare_job_payload,
)
from shared.settings import DuplicatePolicy
from worker.archives import (
    ArchiveLimits,
    Member,
    MemberLimitExceeded,
    Skipped,
    detect_archive,
    iter_entries,
)
from worker.content_digest import digesting
from worker.context import WorkerContext

log = logging.getLogger("quire.worker")
GROUP_SIZE = 50
GROUP_SECONDS = 1.0
SNIFF_BYTES = 512
JOB_NAMESPACE = uuid.UUID("6f1c7f9e-2a51-4d57-9d1e-3c1f0b8a4e21")


class ReadOutcome(StrEnum):
    """How one ingest run ended."""

    FINISHED = "finished"  # the whole archive is read
    SLICED = "sliced"  # the time slice ran out; a new task goes on
    STOPPED = "stopped"  # the batch was canceled or deleted meanwhile


@dataclass(frozen=True)
class IngestedItem:
    """One member's outcome, waiting to be committed with its group."""

    seq: int
    path: str
    size: int
    job_id: str | None = None
    job_key: str = ""
    media_type: str = ""
    skip_code: str | None = None
    skip_reason: str | None = None
    content_sha256: str | None = None
    duplicate_of: str | None = None  # the earlier job whose result its job reuses


@dataclass(frozen=True)
class BatchRef:
    """What ingest needs of the batch row, read once."""

    id: str
    tenant_id: str
    source_key: str
    priority: str
    next_seq: int
    on_duplicate: DuplicatePolicy = DuplicatePolicy.PROCESS
    model_choice: dict[str, Any] | None = None


def member_job_id(batch_id: str, seq: int) -> str:
    """The job id of a batch member: stable across reruns of the ingest."""
    return str(uuid.uuid5(JOB_NAMESPACE, f"{batch_id}:{seq}"))


def ingest_batch(ctx: WorkerContext, batch_id: str) -> None:
    """Ingest members from where the last run stopped, for one time slice at most."""
    ref = _load(ctx, batch_id)
    if ref is None:
        return
    try:
        outcome = _read_members(ctx, ref, ctx.settings.ingest_slice_seconds)
    except CorruptArchive as e:
        stop_ingest(ctx, ref.id, e)
        return
    if outcome is ReadOutcome.FINISHED:
        _mark_ingested(ctx, ref.id)
    elif outcome is ReadOutcome.SLICED:
        log.info("ingest of batch %s continues in a new task", ref.id)
        _send(ctx, INGEST_BATCH, ingest_batch_payload(ref.id), ref.priority)
    else:
        log.info("ingest of batch %s stops: the batch was canceled or deleted", ref.id)


def _load(ctx: WorkerContext, batch_id: str) -> BatchRef | None:
    with transaction(ctx.sessions) as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.source_key is None or batch.ingested_at is not None:
            return None
        if BatchStatus(batch.status).terminal:
            return None
        if ctx.worker_name is not None:  # a dead worker's ingest is reclaimed
            batch.claimed_by, batch.claimed_at = ctx.worker_name, utcnow()
        return BatchRef(
            batch.id,
            batch.tenant_id,
            batch.source_key,
            batch.priority,
            batch.next_seq,
            DuplicatePolicy(batch.on_duplicate),
            batch.model_choice,
        )


def _read_members(ctx: WorkerContext, ref: BatchRef, slice_seconds: float) -> ReadOutcome:
    """Store members and commit them in groups, checking the batch between groups.

    The slice is counted from the first member this run reaches, so that walking past the
    members earlier runs stored (a zip's local headers, a tar stream) never eats it.
    """
    limits = ArchiveLimits.from_settings(ctx.settings)
    group: list[IngestedItem] = []
    try:
        with ctx.store.open_reader(ref.source_key) as reader:
            kind = detect_archive(reader.read(SNIFF_BYTES))
            reader.seek(0)
            if kind is None:
                raise CorruptArchive(f"the file is not a {media.ARCHIVE_NAMES} archive")
            flushed_at = deadline = 0.0
            for entry in iter_entries(reader, kind, limits, start_seq=ref.next_seq):
                if not deadline:
                    flushed_at = time.monotonic()
                    deadline = flushed_at + slice_seconds
                group.append(_store_entry(ctx, ref, entry))
                now = time.monotonic()
                if len(group) >= GROUP_SIZE or now - flushed_at >= GROUP_SECONDS:
                    if not _commit(ctx, ref, group):
                        return ReadOutcome.STOPPED
                    group, flushed_at = [], now
                if now >= deadline:
                    return ReadOutcome.SLICED
    except ObjectMissing:
        # The archive vanished mid-read: the batch was deleted (then the group's sources
        # are removed and the run stops), or the store lost it (a real error).
        if not _commit(ctx, ref, group):
            return ReadOutcome.STOPPED
        raise
    return ReadOutcome.FINISHED if _commit(ctx, ref, group) else ReadOutcome.STOPPED


def _store_entry(ctx: WorkerContext, ref: BatchRef, entry: Member | Skipped) -> IngestedItem:
    if isinstance(entry, Skipped):
        return IngestedItem(
            entry.seq, entry.path, 0, skip_code=entry.code, skip_reason=entry.reason
        )
    job_id = member_job_id(ref.id, entry.seq)
    key = source_key(ref.tenant_id, job_id, entry.kind.extension)
    stream, digest = digesting(entry.stream)
    try:
        ctx.store.put_stream(key, stream, entry.kind.mime)
    except MemberLimitExceeded as e:
        ctx.store.delete(key)
        return IngestedItem(
            entry.seq, entry.path, entry.size, skip_code=e.code, skip_reason=e.reason
        )
    sha = digest.hexdigest()
    item = IngestedItem(
        entry.seq, entry.path, entry.size, job_id, key, entry.kind.mime, content_sha256=sha
    )
    return _check_duplicate(ctx, ref, item)


def _check_duplicate(ctx: WorkerContext, ref: BatchRef, item: IngestedItem) -> IngestedItem:
    """The item as the batch's ``on_duplicate`` makes it, for a member seen before."""
    if ref.on_duplicate is DuplicatePolicy.PROCESS:
        return item
    with transaction(ctx.sessions) as session:
        earlier = find_earlier_job(session, ref.tenant_id, item.content_sha256)
    if earlier is None:
        return item
    if ref.on_duplicate is DuplicatePolicy.REUSE:
        return replace(item, duplicate_of=earlier)
    ctx.store.delete(item.job_key)
    refusal = DuplicateContent(f"{item.path} has the content of job {earlier}")
    return IngestedItem(
        item.seq, item.path, item.size, skip_code=refusal.code, skip_reason=refusal.message
    )


def _commit(ctx: WorkerContext, ref: BatchRef, group: list[IngestedItem]) -> bool:
    """Record a group of items and their jobs, then send the jobs' preparation.

    Returns False when the batch was canceled or deleted meanwhile; the sources this run
    stored for members without a row are then removed (a deleted batch loses its rows
    before its objects, so they would be left behind).
    """
    if not group:
        return True
    created: list[str] = []
    with transaction(ctx.sessions) as session:
        batch = lock_batch(session, ref.id)
        known = _known_seqs(session, ref.id, group) if batch is not None else set()
        live = batch is not None and not BatchStatus(batch.status).terminal
        if batch is not None and live:
            created = _record_group(session, batch, ref, [i for i in group if i.seq not in known])
    if not live:
        for item in group:
            if item.job_key and item.seq not in known:
                ctx.store.delete(item.job_key)
        return False
    for job_id in created:
        _send(ctx, PREPARE_JOB, prepare_job_payload(job_id), ref.priority)
    return True


def _known_seqs(session: Session, batch_id: str, group: list[IngestedItem]) -> set[int]:
    return set(
        session.scalars(
            select(BatchItem.seq).where(
                BatchItem.batch_id == batch_id, BatchItem.seq.in_([i.seq for i in group])
            )
        )
    )


def _record_group(
    session: Session, batch: Batch, ref: BatchRef, new_items: list[IngestedItem]
) -> list[str]:
    """Insert items (and their jobs) not recorded yet; returns the ids of the new jobs."""
    created: list[str] = []
    for item in new_items:
        session.add(_item_row(ref, item))
        if item.job_id is not None and not _reused(session, ref, item):
            session.add(_job_row(ref, item))
            created.append(item.job_id)
        batch.items_total += 1
        batch.items_skipped += item.skip_code is not None
    if new_items:
        batch.next_seq = max(batch.next_seq, new_items[-1].seq + 1)
    if batch.status == BatchStatus.INGESTING and any(i.job_id for i in new_items):
        batch.status = BatchStatus.RUNNING.value
    return created


def _reused(session: Session, ref: BatchRef, item: IngestedItem) -> bool:
    """Whether the item's job was added as a copy of an earlier result (False: it runs);
    the batch ends when its archive is read (``_mark_ingested``), not here."""
    if item.duplicate_of is None:
        return False
    return reuse_result(session, _job_row(ref, item), item.duplicate_of, update_batch=False)


def _item_row(ref: BatchRef, item: IngestedItem) -> BatchItem:
    return BatchItem(
        batch_id=ref.id,
        seq=item.seq,
        path=item.path[:1024],
        job_id=item.job_id,
        size_bytes=item.size,
        skip_code=item.skip_code,
        skip_reason=(item.skip_reason or "")[:2000] or None,
    )


def _job_row(ref: BatchRef, item: IngestedItem) -> Job:
    return Job(
        id=item.job_id,
        tenant_id=ref.tenant_id,
        priority=ref.priority,
        source_key=item.job_key,
        media_type=item.media_type,
        filename=item.path[-512:],
        size_bytes=item.size,
        batch_id=ref.id,
        content_sha256=item.content_sha256,
        model_choice=ref.model_choice,
    )


def _mark_ingested(ctx: WorkerContext, batch_id: str) -> None:
    with transaction(ctx.sessions) as session:
        batch = lock_batch(session, batch_id)
        if batch is None or batch.ingested_at is not None:
            return
        batch.ingested_at = utcnow()
        if batch.status == BatchStatus.INGESTING:
            batch.status = BatchStatus.RUNNING.value
    with transaction(ctx.sessions) as session:
        refresh_batch(session, batch_id)
    log.info("batch %s: archive read", batch_id)


def stop_ingest(ctx: WorkerContext, batch_id: str, error: QuireError) -> None:
    """End the ingest early (unreadable archive, attempts exhausted): the batch fails if
    nothing came out of the archive; otherwise the rest of the archive becomes one skipped
    item and the jobs already made go on."""
    with transaction(ctx.sessions) as session:
        batch = lock_batch(session, batch_id)
        if batch is None or BatchStatus(batch.status).terminal:
            return
        if batch.items_total == 0:
            batch.ingested_at = utcnow()
            finish_batch(session, batch, BatchStatus.FAILED, error.code, error.message)
            return
        session.add(
            BatchItem(
                batch_id=batch_id,
                seq=batch.next_seq,
                path=f"(archive after item {batch.next_seq})",
                skip_code=error.code,
                skip_reason=error.message[:2000],
            )
        )
        batch.items_total += 1
        batch.items_skipped += 1
        batch.next_seq += 1
    _mark_ingested(ctx, batch_id)


def _send(ctx: WorkerContext, task: str, payload: dict[str, object], priority: str) -> None:
    ctx.producer.send_task(
        task, kwargs=payload, queue=TASK_QUEUES[task], priority=PRIORITY_BY_NAME[priority]
    )
