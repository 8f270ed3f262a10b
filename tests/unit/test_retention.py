"""Retention and purge: which work is due, batches purged in chunks, what a receipt holds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import (
    Batch,
    BatchItem,
    BatchStatus,
    Job,
    JobStatus,
    Page,
    PurgedObject,
    PurgeReceipt,
    Tenant,
    new_id,
)
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.errors import InvalidRequest
from shared.objectkeys import job_prefix, page_image_key, source_key
from shared.purge import PurgeReason, PurgeRequest, key_digest, purge_batch, purge_job
from shared.retention import due_batches, due_jobs, effective_days, is_due, parse_days, policies

NOW = datetime(2026, 12, 12, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RETENTION = PurgeRequest(PurgeReason.RETENTION, retention_days=1, chunk_jobs=2)


class DictStore:
    """Objects in a dict; records each purge call, so chunking can be seen."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[str] = []

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data

    def purge(self, key: str) -> bool:
        self.calls.append(key)
        return self.objects.pop(key, None) is not None

    def purge_prefix(self, prefix: str) -> list[str]:
        self.calls.append(prefix + "/")
        keys = sorted(k for k in self.objects if k.startswith(prefix + "/"))
        for key in keys:
            del self.objects[key]
        return keys


@pytest.fixture
def sessions(sqlite_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(sqlite_database_url)
    yield build_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def tenant_id(sessions: sessionmaker[Session]) -> str:
    with transaction(sessions) as session:
        tenant = Tenant(name=f"retention-{new_id()}", retention_days=1)
        session.add(tenant)
        session.flush()
        return tenant.id


def add_job(
    session: Session,
    store: DictStore,
    tenant_id: str,
    status: JobStatus = JobStatus.SUCCEEDED,
    finished_at: datetime | None = NOW - 2 * DAY,
    batch_id: str | None = None,
    pages: int = 2,
) -> str:
    """A job with its source and ``pages`` page images in the store."""
    job = Job(
        id=new_id(),
        tenant_id=tenant_id,
        status=status.value,
        source_key="x",
        media_type="application/pdf",
        batch_id=batch_id,
        finished_at=finished_at,
    )
    job.source_key = source_key(tenant_id, job.id, "pdf")
    session.add(job)
    store.put_bytes(job.source_key, b"%PDF", "application/pdf")
    for index in range(pages):
        key = page_image_key(tenant_id, job.id, index, "png")
        session.add(Page(job_id=job.id, index=index, image_key=key, status="succeeded"))
        store.put_bytes(key, b"png", "image/png")
    return job.id


# --- which work is due -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "default", "expected"),
    [(None, 0, None), (None, 30, 30), (7, 30, 7), (0, 30, None), (7, 0, 7)],
)
def test_the_tenants_own_period_overrides_the_default(
    own: int | None, default: int, expected: int | None
) -> None:
    assert effective_days(own, default) == expected


@pytest.mark.parametrize(
    ("status", "finished_at", "days", "due"),
    [
        ("succeeded", NOW - 2 * DAY, 1, True),
        ("failed", NOW - 2 * DAY, 1, True),
        ("canceled", NOW - 2 * DAY, 1, True),
        ("partial", NOW - 2 * DAY, 1, True),
        ("succeeded", NOW - DAY / 2, 1, False),  # recent
        ("succeeded", NOW - 2 * DAY, None, False),  # kept forever
        ("queued", NOW - 2 * DAY, 1, False),  # never while it runs
        ("running", NOW - 2 * DAY, 1, False),
        ("succeeded", None, 1, False),
    ],
)
def test_only_finished_work_past_its_period_is_due(
    status: str, finished_at: datetime | None, days: int | None, due: bool
) -> None:
    assert is_due(status, finished_at, days, NOW) is due


@pytest.mark.parametrize(
    ("text", "days"), [("30", 30), ("none", 0), ("forever", 0), ("0", 0), ("default", None)]
)
def test_days_from_the_command_line(text: str, days: int | None) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["-1", "1.5", "week", "", "99999999"])
def test_bad_days_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_days(text)


def test_due_queries_leave_out_recent_running_and_batched_jobs(
    sessions: sessionmaker[Session], tenant_id: str
) -> None:
    store = DictStore()
    with transaction(sessions) as session:
        old = add_job(session, store, tenant_id)
        add_job(session, store, tenant_id, finished_at=NOW - DAY / 2)
        add_job(session, store, tenant_id, JobStatus.RUNNING, finished_at=None)
        batch = Batch(tenant_id=tenant_id, status="succeeded", finished_at=NOW - 3 * DAY)
        running = Batch(tenant_id=tenant_id, status="succeeded", finished_at=NOW - 3 * DAY)
        session.add_all([batch, running])
        session.flush()
        add_job(session, store, tenant_id, batch_id=batch.id)
        add_job(session, store, tenant_id, JobStatus.QUEUED, None, batch_id=running.id)
    with transaction(sessions) as session:
        assert list(due_jobs(session, tenant_id, NOW - DAY, 10)) == [old]
        assert list(due_batches(session, tenant_id, NOW - DAY, 10)) == [batch.id]
        mine = [p for p in policies(session, 0) if p.tenant_id == tenant_id]
        assert [(p.days, p.from_default) for p in mine] == [(1, False)]


# --- purges ------------------------------------------------------------------------------------


def test_a_receipt_names_objects_only_by_the_hash_of_their_key(
    sessions: sessionmaker[Session], tenant_id: str
) -> None:
    store = DictStore()
    with transaction(sessions) as session:
        job_id = add_job(session, store, tenant_id, pages=2)
    keys = sorted(store.objects)

    receipt_id = purge_job(sessions, store, job_id, RETENTION)

    assert store.objects == {}
    with transaction(sessions) as session:
        receipt = session.get(PurgeReceipt, receipt_id)
        assert receipt is not None
        digests = session.scalars(
            select(PurgedObject.key_sha256).where(PurgedObject.receipt_id == receipt_id)
        ).all()
        assert (receipt.resource, receipt.resource_id, receipt.reason) == (
            "job",
            job_id,
            "retention",
        )
        assert (receipt.objects_deleted, receipt.jobs_deleted, receipt.pages_deleted) == (3, 1, 2)
        assert receipt.retention_days == 1 and receipt.completed_at is not None
        assert sorted(digests) == sorted(hashlib.sha256(k.encode()).hexdigest() for k in keys)
        assert key_digest(keys[0]) in digests
        stored = repr([getattr(receipt, c.key) for c in PurgeReceipt.__table__.columns])
        assert not any(k in stored for k in keys) and job_prefix(tenant_id, job_id) not in stored
        assert session.get(Job, job_id) is None


def test_a_running_job_is_not_purged_for_retention(
    sessions: sessionmaker[Session], tenant_id: str
) -> None:
    store = DictStore()
    with transaction(sessions) as session:
        job_id = add_job(session, store, tenant_id, JobStatus.RUNNING, finished_at=None)
    assert purge_job(sessions, store, job_id, RETENTION) is None
    assert len(store.objects) == 3 and store.calls == []


def test_a_batch_goes_in_chunks_and_resumes_into_the_same_receipt(
    sessions: sessionmaker[Session], tenant_id: str
) -> None:
    store = DictStore()
    with transaction(sessions) as session:
        batch = Batch(tenant_id=tenant_id, status=BatchStatus.SUCCEEDED.value, finished_at=NOW)
        session.add(batch)
        session.flush()
        jobs = [add_job(session, store, tenant_id, batch_id=batch.id, pages=1) for _ in range(5)]
        session.add_all(
            BatchItem(batch_id=batch.id, seq=i, path=f"{i}.pdf", job_id=j)
            for i, j in enumerate(jobs)
        )
        batch_id = batch.id

    assert purge_batch(sessions, store, batch_id, RETENTION, max_chunks=1) is None
    with transaction(sessions) as session:
        left = session.scalar(select(func.count()).where(Job.batch_id == batch_id))
        (receipt,) = session.scalars(
            select(PurgeReceipt).where(PurgeReceipt.resource_id == batch_id)
        )
        assert left == 3 and receipt.jobs_deleted == 2 and receipt.completed_at is None
    assert len(store.objects) == 6  # 3 jobs x (source + page)

    receipt_id = purge_batch(sessions, store, batch_id, RETENTION)

    assert receipt_id == receipt.id and store.objects == {}
    with transaction(sessions) as session:
        done = session.get(PurgeReceipt, receipt_id)
        assert done is not None and done.completed_at is not None
        assert (done.jobs_deleted, done.pages_deleted, done.objects_deleted) == (5, 5, 10)
        assert session.get(Batch, batch_id) is None
        assert session.scalar(select(func.count()).where(BatchItem.batch_id == batch_id)) == 0
    job_passes = [c for c in store.calls if c.endswith("/") and "/jobs/" in c]
    assert len(job_passes) == 2 * 5  # each job's prefix: a first and a second pass
