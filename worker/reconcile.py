"""Reconcile the broker with the database: send again the work Redis no longer holds.

The database is the system of record and Redis only carries messages, so a message can be
lost (Redis restarted without persistence, a flush, an eviction) while its row still waits
for it. A pass reads every message the broker holds (the waiting lists of the ``cpu`` and
``gpu`` queues with their priority sub-lists, and kombu's ``unacked`` hash of messages
delivered to a worker), compares them with the rows that should have one, and repairs:

- a queued page of an active job, quiet for ``stale_after_seconds``: ``ocr_page`` again;
- a running page past its lease whose message is gone (its worker vanished with it): back
  to queued and ``ocr_page`` again, or dead-lettered when its attempts are spent;
- an active job not (fully) split, older than ``stale_after_seconds``: ``prepare_job`` again;
- an archive batch not yet read, older than ``stale_after_seconds``: ``ingest_batch`` again.

Every step sent again is idempotent. Rows are re-checked under row locks (skipping rows a
worker holds) just before a send, and a row is repaired only when its message is absent
from two reads of the broker, one before and one after the database is read, so a message
moving between a list and ``unacked`` during the first read is never sent twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from shared.celery_config import PRIORITY_BY_NAME
from shared.db.models import (
    JOBS_IN_FLIGHT,
    Batch,
    BatchStatus,
    Job,
    JobStatus,
    Page,
    PageStatus,
    utcnow,
)
from shared.db.session import transaction
from shared.errors import AttemptsExhausted, BrokerUnavailable
from shared.queue_depth import queue_keys
from shared.queues import (
    CPU_QUEUE,
    GPU_QUEUE,
    INGEST_BATCH,
    OCR_PAGE,
    PREPARE_JOB,
    TASK_QUEUES,
    ingest_batch_payload,
    ocr_page_payload,
    prepare_job_payload,
)
from shared.redis_client import redis_from_url
from worker.context import WorkerContext
from worker.job_state import fail_page

log = logging.getLogger("quire.reconcile")

# kombu.transport.redis.Channel.unacked_key: delivery tag -> JSON [message, exchange, key].
UNACKED_KEY = "unacked"
RECONCILED_QUEUES = (CPU_QUEUE, GPU_QUEUE)
# Messages read per LRANGE / HSCAN round trip, so a long backlog is never one huge reply.
READ_CHUNK = 1000
# Re-sends per kind and pass; the rest waits for the next pass.
MAX_RESENDS_PER_KIND = 1000
ACTIVE_BATCH = (BatchStatus.INGESTING.value, BatchStatus.RUNNING.value)
# Positional parameters of each task, for a message sent with ``args`` instead of kwargs.
TASK_PARAMS = {
    OCR_PAGE: ("v", "job_id", "page_index"),
    PREPARE_JOB: ("v", "job_id"),
    INGEST_BATCH: ("v", "batch_id"),
}
WORKER_LOST = "its worker was lost while running it, and the broker no longer held its message"


# --- what the broker holds ------------------------------------------------------------------


@dataclass(frozen=True)
class WorkKey:
    """One unit of work a message stands for: a page, a job to prepare, a batch to ingest."""

    task: str
    target: str
    page_index: int | None = None


@dataclass(frozen=True)
class BrokerSnapshot:
    """The work found in the broker by one read."""

    keys: frozenset[WorkKey]
    messages: int
    undecodable: int


def decode_envelope(envelope: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The task name and keyword arguments of a kombu message envelope (Celery JSON).

    Protocol 2 bodies are ``[args, kwargs, embed]`` with the task in ``headers.task``;
    protocol 1 bodies are a dict with ``task``, ``args`` and ``kwargs``. Positional
    arguments of known tasks are mapped to their parameter names.

    Args:
        envelope: The decoded JSON envelope kombu stores in Redis.

    Returns:
        ``(task, kwargs)``, or None when the message is not a JSON Celery task.
    """
    body = _decode_body(envelope)
    headers = envelope.get("headers")
    task = headers.get("task") if isinstance(headers, Mapping) else None
    if isinstance(body, list) and len(body) >= 2:
        args, kwargs = body[0], body[1]
    elif isinstance(body, Mapping):
        task = task or body.get("task")
        args, kwargs = body.get("args") or [], body.get("kwargs") or {}
    else:
        return None
    if not isinstance(task, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        return None
    return task, {**dict(zip(TASK_PARAMS.get(task, ()), args, strict=False)), **kwargs}


def _decode_body(envelope: Mapping[str, Any]) -> Any:
    """The JSON body of an envelope, or None when it is not JSON or cannot be decoded."""
    if envelope.get("content-type") != "application/json":
        return None
    body: Any = envelope.get("body")
    properties = envelope.get("properties")
    encoding = properties.get("body_encoding") if isinstance(properties, Mapping) else None
    try:
        if encoding == "base64":
            body = base64.b64decode(body, validate=True) if isinstance(body, str) else None
        if isinstance(body, bytes):
            body = body.decode(envelope.get("content-encoding") or "utf-8")
        return json.loads(body) if isinstance(body, str) else None
    except (binascii.Error, TypeError, LookupError, ValueError):
        return None


def decode_message(raw: bytes | str) -> tuple[str, dict[str, Any]] | None:
    """Decode a message of a queue list (the JSON envelope); None when undecodable."""
    try:
        envelope = json.loads(raw)
    except ValueError:
        return None
    return decode_envelope(envelope) if isinstance(envelope, Mapping) else None


def decode_unacked(raw: bytes | str) -> tuple[str, dict[str, Any]] | None:
    """Decode a value of kombu's ``unacked`` hash (``[envelope, exchange, routing_key]``)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, list) or not entry or not isinstance(entry[0], Mapping):
        return None
    return decode_envelope(entry[0])


def work_key(task: str, kwargs: Mapping[str, Any]) -> WorkKey | None:
    """The unit of work a task message stands for; None for tasks not reconciled here."""
    if task == OCR_PAGE:
        job_id, index = kwargs.get("job_id"), kwargs.get("page_index")
        if isinstance(job_id, str) and isinstance(index, int) and not isinstance(index, bool):
            return WorkKey(OCR_PAGE, job_id, index)
        return None
    field = {PREPARE_JOB: "job_id", INGEST_BATCH: "batch_id"}.get(task)
    target = kwargs.get(field) if field else None
    return WorkKey(task, target) if isinstance(target, str) else None


def read_broker(client: redis.Redis, queues: Sequence[str] = RECONCILED_QUEUES) -> BrokerSnapshot:
    """Read every waiting and every delivered-but-unacknowledged message.

    The lists are read before ``unacked``: a message a worker takes meanwhile moves from a
    list to ``unacked``, so it is seen in one or the other (but for kombu's short gap
    between the two, which the second read of :func:`reconcile_once` covers).

    Raises:
        BrokerUnavailable: Redis cannot be read.
    """
    keys: set[WorkKey] = set()
    messages = undecodable = 0
    try:
        for raw, decode in _raw_messages(client, queues):
            messages += 1
            decoded = decode(raw)
            if decoded is None:
                undecodable += 1
                continue
            key = work_key(*decoded)
            if key is not None:
                keys.add(key)
    except RedisError as e:
        raise BrokerUnavailable(f"cannot read the broker: {e}") from e
    if undecodable:
        log.warning("reconcile: ignored %d undecodable broker messages", undecodable)
    return BrokerSnapshot(frozenset(keys), messages, undecodable)


def _raw_messages(client: redis.Redis, queues: Sequence[str]) -> Iterator[tuple[bytes, Any]]:
    # kombu pushes on the left and pops on the right, so paging from the left misses
    # nothing that stays in a list (a push only shifts what was already read).
    for queue in queues:
        for key in queue_keys(queue):
            start = 0
            while True:
                chunk = client.lrange(key, start, start + READ_CHUNK - 1)
                yield from ((raw, decode_message) for raw in chunk)
                if len(chunk) < READ_CHUNK:
                    break
                start += READ_CHUNK
    for _tag, raw in client.hscan_iter(UNACKED_KEY, count=READ_CHUNK):
        yield raw, decode_unacked


# --- what the database expects -------------------------------------------------------------


@dataclass(frozen=True)
class PageRef:
    """A page that should have an ``ocr_page`` message."""

    job_id: str
    index: int
    priority: str
    started_at: datetime | None = None
    attempts: int = 0

    @property
    def key(self) -> WorkKey:
        return WorkKey(OCR_PAGE, self.job_id, self.index)


@dataclass(frozen=True)
class TargetRef:
    """A job that should have a ``prepare_job`` or a batch an ``ingest_batch`` message."""

    task: str
    id: str
    priority: str

    @property
    def key(self) -> WorkKey:
        return WorkKey(self.task, self.id)


class Keyed(Protocol):
    @property
    def key(self) -> WorkKey: ...


K = TypeVar("K", bound=Keyed)


def select_missing(
    candidates: Iterable[K], present: AbstractSet[WorkKey], limit: int
) -> tuple[list[K], bool]:
    """The candidates whose work is not in ``present``, at most ``limit`` of them.

    Args:
        candidates: Rows that should have a message, oldest first.
        present: The work the broker holds.
        limit: Most candidates to return.

    Returns:
        The missing candidates in their order, and whether more were left out.
    """
    chosen: list[K] = []
    for candidate in candidates:
        if candidate.key in present:
            continue
        if len(chosen) >= limit:
            return chosen, True
        chosen.append(candidate)
    return chosen, False


@dataclass(frozen=True)
class RepairPlan:
    """What a pass will repair, by kind."""

    queued_pages: tuple[PageRef, ...] = ()
    running_pages: tuple[PageRef, ...] = ()
    jobs: tuple[TargetRef, ...] = ()
    batches: tuple[TargetRef, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.queued_pages or self.running_pages or self.jobs or self.batches)

    def without(self, present: AbstractSet[WorkKey]) -> RepairPlan:
        """The plan less everything whose message is in ``present``."""

        def keep(refs: tuple[K, ...]) -> tuple[K, ...]:
            return tuple(r for r in refs if r.key not in present)

        return RepairPlan(
            keep(self.queued_pages), keep(self.running_pages), keep(self.jobs), keep(self.batches)
        )


def stale_queued_pages(cutoff: datetime) -> Select[str, int, str]:
    """Queued pages of active jobs not (re)queued since ``cutoff``, oldest first.

    A page is queued when created, or again after a retryable error, so it has been
    waiting since its last start (``started_at``) if it has one, else since ``created_at``.
    """
    since = func.coalesce(Page.started_at, Page.created_at)
    return (
        select(Page.job_id, Page.index, Job.priority)
        .join(Job, Job.id == Page.job_id)
        .where(
            Page.status == PageStatus.QUEUED.value,
            Job.status.in_(JOBS_IN_FLIGHT),
            since < cutoff,
        )
        .order_by(since, Page.job_id, Page.index)
    )


def expired_running_pages(
    cutoff: datetime,
) -> Select[str, int, str, datetime | None, int]:
    """Running pages of active jobs started before ``cutoff`` (their lease ran out)."""
    return (
        select(Page.job_id, Page.index, Job.priority, Page.started_at, Page.attempts)
        .join(Job, Job.id == Page.job_id)
        .where(
            Page.status == PageStatus.RUNNING.value,
            Job.status.in_(JOBS_IN_FLIGHT),
            Page.started_at < cutoff,
        )
        .order_by(Page.started_at, Page.job_id, Page.index)
    )


def unsplit_jobs(cutoff: datetime) -> Select[str, str]:
    """Active jobs created before ``cutoff`` with fewer page rows than pages (or none yet)."""
    page_rows = select(func.count()).where(Page.job_id == Job.id).scalar_subquery()
    return (
        select(Job.id, Job.priority)
        .where(
            Job.status.in_(JOBS_IN_FLIGHT),
            Job.created_at < cutoff,
            or_(Job.pages_total == 0, Job.pages_total > page_rows),
        )
        .order_by(Job.created_at, Job.id)
    )


def unread_archives(cutoff: datetime) -> Select[str, str]:
    """Active archive batches created before ``cutoff`` whose archive is not fully read."""
    return (
        select(Batch.id, Batch.priority)
        .where(
            Batch.status.in_(ACTIVE_BATCH),
            Batch.ingested_at.is_(None),
            Batch.source_key.is_not(None),
            Batch.created_at < cutoff,
        )
        .order_by(Batch.created_at, Batch.id)
    )


def find_missing(ctx: WorkerContext, now: datetime, present: AbstractSet[WorkKey]) -> RepairPlan:
    """What the database expects in the broker that the broker does not hold."""
    stale = now - timedelta(seconds=ctx.settings.stale_after_seconds)
    lease = now - timedelta(seconds=ctx.settings.effective_page_lease_seconds)
    return RepairPlan(
        queued_pages=_scan(ctx, "queued pages", stale_queued_pages(stale), present, _page_ref),
        running_pages=_scan(ctx, "lost pages", expired_running_pages(lease), present, _page_ref),
        jobs=_scan(ctx, "unsplit jobs", unsplit_jobs(stale), present, _job_ref),
        batches=_scan(ctx, "unread archives", unread_archives(stale), present, _batch_ref),
    )


def _scan(
    ctx: WorkerContext,
    kind: str,
    query: Select[*tuple[Any, ...]],
    present: AbstractSet[WorkKey],
    to_ref: Callable[[Any], K],
) -> tuple[K, ...]:
    with transaction(ctx.sessions) as session:
        rows = session.execute(query.execution_options(yield_per=READ_CHUNK))
        chosen, capped = select_missing(
            (to_ref(row) for row in rows), present, MAX_RESENDS_PER_KIND
        )
    if capped:
        log.warning(
            "reconcile: more than %d %s to repair; the rest waits for the next pass",
            MAX_RESENDS_PER_KIND,
            kind,
        )
    return tuple(chosen)


def _page_ref(row: Any) -> PageRef:
    return PageRef(*row)


def _job_ref(row: Any) -> TargetRef:
    return TargetRef(PREPARE_JOB, row[0], row[1])


def _batch_ref(row: Any) -> TargetRef:
    return TargetRef(INGEST_BATCH, row[0], row[1])


# --- repairs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass found and did.

    ``pages_resent`` counts queued pages sent again; ``pages_requeued`` running pages set
    back to queued and sent again; ``pages_dead_lettered`` running pages failed with
    ``attempts_exhausted``; ``pages_settled`` running pages of canceled jobs whose worker
    vanished, set to ``canceled``.
    """

    pages_resent: int = 0
    pages_requeued: int = 0
    pages_dead_lettered: int = 0
    pages_settled: int = 0
    jobs_resent: int = 0
    batches_resent: int = 0
    broker_messages_seen: int = 0

    @property
    def repairs(self) -> int:
        """Rows repaired in this pass."""
        return (
            self.pages_resent
            + self.pages_requeued
            + self.pages_dead_lettered
            + self.pages_settled
            + self.jobs_resent
            + self.batches_resent
        )


def reconcile_once(ctx: WorkerContext, now: datetime | None = None) -> ReconcileReport:
    """One pass: find the work the broker lost and send it again.

    Args:
        ctx: The worker context (settings, database, producer).
        now: The time staleness and leases are measured against; defaults to now.

    Returns:
        Counts of what was found and repaired.

    Raises:
        BrokerUnavailable: Redis cannot be read or a message cannot be sent.
        DatabaseUnavailable: The database cannot be reached.
    """
    now = now or utcnow()
    client = redis_from_url(ctx.settings.broker_url)
    try:
        before = read_broker(client)
        plan = find_missing(ctx, now, before.keys)
        if not plan.empty:
            # A message moving between a list and `unacked` during the first read shows now.
            plan = plan.without(read_broker(client).keys)
    finally:
        client.close()
    requeued, dead = recover_running_pages(ctx, plan.running_pages)
    report = ReconcileReport(
        pages_resent=resend_queued_pages(ctx, plan.queued_pages),
        pages_requeued=requeued,
        pages_dead_lettered=dead,
        pages_settled=settle_orphaned_pages(
            ctx, now - timedelta(seconds=ctx.settings.effective_page_lease_seconds)
        ),
        jobs_resent=resend_prepare(ctx, plan.jobs),
        batches_resent=resend_ingest(ctx, plan.batches),
        broker_messages_seen=before.messages,
    )
    if report.repairs:
        log.info("reconcile: %s", report)
    return report


def settle_orphaned_pages(ctx: WorkerContext, cutoff: datetime) -> int:
    """End the pages still ``running`` past their lease in canceled jobs (their worker
    vanished after the cancel, so no result will come); returns how many."""
    canceled_jobs = select(Job.id).where(Job.status == JobStatus.CANCELED.value)
    with transaction(ctx.sessions) as session:
        result = session.execute(
            update(Page)
            .where(
                Page.status == PageStatus.RUNNING.value,
                Page.started_at < cutoff,
                Page.job_id.in_(canceled_jobs),
            )
            .values(status=PageStatus.CANCELED.value, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def resend_queued_pages(ctx: WorkerContext, pages: Sequence[PageRef]) -> int:
    """Send ``ocr_page`` for the pages still queued (re-checked under lock); returns sent."""
    sent = 0
    for job_id, refs in _by_job(pages).items():
        with transaction(ctx.sessions) as session:
            job = _lock_active_job(session, job_id)
            if job is None:
                continue
            rows = _lock_pages(session, job_id, [r.index for r in refs])
            ready = [p.index for p in rows if p.status == PageStatus.QUEUED.value]
            priority = job.priority
        for index in ready:
            _send(ctx, OCR_PAGE, ocr_page_payload(job_id, index), priority)
        sent += len(ready)
    return sent


def recover_running_pages(ctx: WorkerContext, pages: Sequence[PageRef]) -> tuple[int, int]:
    """Requeue and resend lost running pages, or dead-letter those out of attempts.

    A page is touched only if it is still running from the same start (not claimed again
    meanwhile). Returns (requeued, dead-lettered).
    """
    requeued = dead = 0
    for job_id, refs in _by_job(pages).items():
        started = {r.index: r.started_at for r in refs}
        with transaction(ctx.sessions) as session:
            job = _lock_active_job(session, job_id)
            if job is None:
                continue
            lost = [
                p
                for p in _lock_pages(session, job_id, list(started))
                if p.status == PageStatus.RUNNING.value and p.started_at == started[p.index]
            ]
            resend = [p.index for p in lost if _requeue_or_fail(ctx, session, job, p)]
            priority = job.priority
        for index in resend:
            _send(ctx, OCR_PAGE, ocr_page_payload(job_id, index), priority)
        requeued += len(resend)
        dead += len(lost) - len(resend)
    return requeued, dead


def _requeue_or_fail(ctx: WorkerContext, session: Session, job: Job, page: Page) -> bool:
    """Set a lost page back to queued (True), or fail it when its attempts are spent."""
    limit = ctx.settings.max_attempts
    if page.attempts >= limit:
        error = AttemptsExhausted(f"the page failed {limit} times (last error: {WORKER_LOST})")
        fail_page(session, job, page, error)
        log.warning("page %s/%s dead-lettered: %s", job.id, page.index, WORKER_LOST)
        return False
    page.status = PageStatus.QUEUED.value
    page.error_message = WORKER_LOST
    return True


def resend_prepare(ctx: WorkerContext, jobs: Sequence[TargetRef]) -> int:
    """Send ``prepare_job`` for the jobs still active and not fully split; returns sent."""
    sent = 0
    for ref in jobs:
        with transaction(ctx.sessions) as session:
            job = _lock_active_job(session, ref.id)
            if job is None or not _unsplit(session, job):
                continue
            priority = job.priority
        _send(ctx, PREPARE_JOB, prepare_job_payload(ref.id), priority)
        sent += 1
    return sent


def resend_ingest(ctx: WorkerContext, batches: Sequence[TargetRef]) -> int:
    """Send ``ingest_batch`` for the batches whose archive is still being read."""
    sent = 0
    for ref in batches:
        with transaction(ctx.sessions) as session:
            batch = session.scalar(
                select(Batch).where(Batch.id == ref.id).with_for_update(skip_locked=True)
            )
            if batch is None or BatchStatus(batch.status).terminal:
                continue
            if batch.ingested_at is not None or batch.source_key is None:
                continue
            priority = batch.priority
        _send(ctx, INGEST_BATCH, ingest_batch_payload(ref.id), priority)
        sent += 1
    return sent


def _by_job(pages: Sequence[PageRef]) -> dict[str, list[PageRef]]:
    grouped: dict[str, list[PageRef]] = {}
    for page in pages:
        grouped.setdefault(page.job_id, []).append(page)
    return grouped


def _lock_active_job(session: Session, job_id: str) -> Job | None:
    """The job row locked (None if a worker holds it, it is gone, or it has ended)."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(skip_locked=True))
    return None if job is None or JobStatus(job.status).terminal else job


def _lock_pages(session: Session, job_id: str, indexes: list[int]) -> Sequence[Page]:
    """Page rows locked after their job's row (the lock order of ``job_state``)."""
    return session.scalars(
        select(Page)
        .where(Page.job_id == job_id, Page.index.in_(indexes))
        .order_by(Page.index)
        .with_for_update(skip_locked=True)
    ).all()


def _unsplit(session: Session, job: Job) -> bool:
    rows = session.scalar(select(func.count()).where(Page.job_id == job.id)) or 0
    return job.pages_total == 0 or rows < job.pages_total


def _send(ctx: WorkerContext, task: str, payload: dict[str, object], priority: str) -> None:
    try:
        ctx.producer.send_task(
            task, kwargs=payload, queue=TASK_QUEUES[task], priority=PRIORITY_BY_NAME[priority]
        )
    except (KombuOperationalError, RedisError, OSError) as e:
        raise BrokerUnavailable(f"could not send {task} {payload}: {e}") from e
