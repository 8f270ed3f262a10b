"""A submission's rows on SQLite and PostgreSQL: the one-statement path for a one-page image
and the row-by-row path, each all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from api.caller import TenantRef
from api.idempotency import IdempotencyClaim
from api.job_rows import insert_job_rows
from api.submission import CheckedUpload, SubmitOptions, new_job
from shared import media
from shared.db.models import IdempotencyKey, Job, Page
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.tenancy import ensure_tenant

pytestmark = pytest.mark.integration
PNG = next(m for m in media.ACCEPTED if m.mime == "image/png")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = build_engine(database_url)
    yield built
    built.dispose()


@pytest.fixture
def tenant(engine: Engine) -> TenantRef:
    with transaction(build_sessionmaker(engine)) as session:
        row = ensure_tenant(session, "job-rows")
        return TenantRef(id=row.id, name=row.name)


def a_job(tenant: TenantRef, *, single_page: bool = True) -> Job:
    upload = SimpleNamespace(filename="scan.png", size=123)
    checked = CheckedUpload(PNG, single_page=single_page)
    return new_job(tenant, upload, checked, SubmitOptions(metadata={"box": 7}))  # type: ignore[arg-type]


def counts(engine: Engine, job_id: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        jobs = conn.scalar(select(func.count()).select_from(Job).where(Job.id == job_id))
        pages = conn.scalar(select(func.count()).select_from(Page).where(Page.job_id == job_id))
        keys = conn.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.resource_id == job_id)
        )
    return int(jobs or 0), int(pages or 0), int(keys or 0)


def test_a_one_page_job_gets_its_queued_page(engine: Engine, tenant: TenantRef) -> None:
    job = a_job(tenant)
    insert_job_rows(engine, job, first_page=True, claim=None)

    with transaction(build_sessionmaker(engine)) as session:
        stored = session.get(Job, job.id)
        assert stored is not None
        assert (stored.status, stored.pages_total, stored.metadata_) == ("queued", 1, {"box": 7})
        [page] = stored.pages
        assert (page.index, page.status, page.attempts) == (0, "queued", 0)
        assert page.image_key == job.source_key and page.text is None


def test_a_job_to_split_has_no_page_yet(engine: Engine, tenant: TenantRef) -> None:
    job = a_job(tenant, single_page=False)
    insert_job_rows(engine, job, first_page=False, claim=None)
    assert counts(engine, job.id) == (1, 0, 0)


def test_the_idempotency_key_goes_in_with_the_job(engine: Engine, tenant: TenantRef) -> None:
    job = a_job(tenant)
    claim = IdempotencyClaim(tenant.id, "k-1", "hash", timedelta(hours=1))
    insert_job_rows(engine, job, first_page=True, claim=claim)
    assert counts(engine, job.id) == (1, 1, 1)


@pytest.mark.parametrize("with_claim", [False, True])
def test_a_failed_page_insert_leaves_no_job(
    engine: Engine, tenant: TenantRef, with_claim: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = a_job(tenant)
    insert_job_rows(engine, first, first_page=True, claim=None)
    with engine.connect() as conn:
        taken = conn.scalar(select(Page.id).where(Page.job_id == first.id))
    # The next page gets an id already taken: its job's insert succeeds, its page's fails.
    monkeypatch.setattr("api.job_rows.new_id", lambda: taken)
    again = a_job(tenant)
    claim = IdempotencyClaim(tenant.id, "k-2", "hash", timedelta(hours=1)) if with_claim else None

    with pytest.raises(IntegrityError):
        insert_job_rows(engine, again, first_page=True, claim=claim)

    assert counts(engine, again.id) == (0, 0, 0)
    assert counts(engine, first.id) == (1, 1, 0)
