"""Fixtures for the integration layer: the API in-process over real DB, Redis and store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from shared.celery_config import build_celery
from shared.db.models import Job
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.key_scopes import DEFAULT_SCOPES, KeyScope
from shared.objectkeys import source_key
from shared.settings import Settings
from shared.tenancy import ensure_tenant, issue_api_key
from tests.fakes import fake_engine
from worker.context import WorkerContext


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url)


ClientWithCache = Callable[[float], AbstractContextManager[TestClient]]


@pytest.fixture
def client_with_cache(settings: Settings) -> ClientWithCache:
    """Another API process (its own app, key cache and pool) on the same database."""

    @contextmanager
    def build(seconds: float) -> Iterator[TestClient]:
        changed = settings.model_copy(update={"api_key_cache_seconds": seconds})
        with TestClient(create_app(changed), raise_server_exceptions=False) as client:
            yield client

    return build


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def new_key(settings: Settings) -> Callable[..., str]:
    """Issue an API key for a tenant (created if new) directly in the database; with
    ``scopes`` (default submit and read) and an optional ``expires_at``."""
    engine = build_engine(settings.effective_database_url)
    sessions = build_sessionmaker(engine)

    def issue(
        tenant: str,
        scopes: Iterable[KeyScope] = DEFAULT_SCOPES,
        expires_at: datetime | None = None,
    ) -> str:
        with transaction(sessions) as session:
            return issue_api_key(
                session,
                ensure_tenant(session, tenant),
                settings.secret_key,
                scopes=scopes,
                expires_at=expires_at,
            )

    return issue


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[WorkerContext]:
    """A worker context on the test's settings, with the fake engine."""
    context = WorkerContext.build(settings, producer=build_celery(settings))
    context._engine = fake_engine()
    yield context
    context.close()


@pytest.fixture
def make_job(ctx: WorkerContext) -> Callable[..., str]:
    """Insert a queued job whose source object holds ``data``."""

    def create(data: bytes, mime: str = "image/png", ext: str = "png") -> str:
        with transaction(ctx.sessions) as session:
            tenant = ensure_tenant(session, "worker-tests")
            job = Job(tenant_id=tenant.id, source_key="pending", media_type=mime)
            session.add(job)
            session.flush()
            job.source_key = source_key(tenant.id, job.id, ext)
            job_id, key = job.id, job.source_key
        ctx.store.put_bytes(key, data, mime)
        return job_id

    return create


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
