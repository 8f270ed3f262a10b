"""Per-key request rate and per-tenant in-flight limits, through the API in-process against
real PostgreSQL/SQLite and Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import redis
import redis.asyncio
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.rate_limit import RatePolicy, gcra_step
from api.rate_limiter import RedisRateLimiter
from api.tenant_limits import InFlight, in_flight
from shared.db.models import Job, JobStatus, Page, PageStatus, new_id
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.redis_client import async_redis_from_url
from shared.settings import Settings
from shared.tenancy import ensure_tenant
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import png, sent_messages
from worker.job_state import refresh_job

pytestmark = pytest.mark.integration

CHEAP = "/v1/webhook-deliveries"  # authenticated, touches neither the broker nor the store
DEAD_REDIS = "redis://127.0.0.1:1/0"
ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings], database_url: str, redis_url: str
) -> ClientFactory:
    """An API app on the test databases with some settings changed."""

    @contextmanager
    def build(**overrides: Any) -> Iterator[TestClient]:
        values: dict[str, Any] = {"database_url": database_url, "redis_url": redis_url}
        settings = make_settings(**{**values, **overrides})
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client

    return build


def small_rate(**overrides: Any) -> dict[str, Any]:
    """One request per second, three at once."""
    return {"rate_limit_per_minute": 60, "rate_limit_burst": 3, **overrides}


# --- per-key request rate ---------------------------------------------------------------


def test_burst_then_429_with_headers_and_a_retry_after_that_works(
    make_client: ClientFactory, new_key: Callable[[str], str]
) -> None:
    key = new_key("burst")
    with make_client(**small_rate()) as client:
        answers = [client.get(CHEAP, headers=auth(key)) for _ in range(3)]
        refused = client.get(CHEAP, headers=auth(key))
        retry_after = int(refused.headers["retry-after"])
        time.sleep(retry_after)
        again = client.get(CHEAP, headers=auth(key))

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
    for answer in answers:
        assert answer.headers["ratelimit-limit"] == "3"
        assert answer.headers["ratelimit-policy"] == "3;w=3"
        assert 1 <= int(answer.headers["ratelimit-reset"]) <= 3
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert retry_after == 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-policy"] == "3;w=3"
    assert again.status_code == 200, again.text


def test_every_v1_route_is_limited_and_submits_too(
    make_client: ClientFactory, new_key: Callable[[str], str]
) -> None:
    key = new_key("submitter")
    with make_client(**small_rate()) as client:
        submitted = client.post(
            "/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")}
        )
        missing = client.get("/v1/jobs/nope", headers=auth(key))
        client.get(CHEAP, headers=auth(key))
        refused = client.post(
            "/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")}
        )
    assert submitted.status_code == 202
    assert submitted.headers["ratelimit-remaining"] == "2"
    assert missing.status_code == 404
    assert missing.headers["ratelimit-remaining"] == "1"  # errors count and carry headers
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"


def test_each_key_has_its_own_bucket(
    make_client: ClientFactory, new_key: Callable[[str], str]
) -> None:
    first, second = new_key("same-tenant"), new_key("same-tenant")
    with make_client(**small_rate()) as client:
        for _ in range(3):
            client.get(CHEAP, headers=auth(first))
        refused = client.get(CHEAP, headers=auth(first))
        other = client.get(CHEAP, headers=auth(second))
    assert refused.status_code == 429
    assert other.status_code == 200
    assert other.headers["ratelimit-remaining"] == "2"


def test_two_api_processes_share_one_bucket(
    make_client: ClientFactory, new_key: Callable[[str], str]
) -> None:
    key = new_key("two-apps")
    with make_client(**small_rate()) as one, make_client(**small_rate()) as two:
        apps = [two, one, two, one]
        codes = [app.get(CHEAP, headers=auth(key)).status_code for app in apps]
        refused_elsewhere = one.get(CHEAP, headers=auth(key))
    assert codes == [200, 200, 200, 429]
    assert refused_elsewhere.status_code == 429


def test_redis_down_fails_open_with_a_warning(
    make_client: ClientFactory, new_key: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key("no-redis")
    caplog.set_level(logging.WARNING, logger="quire.api")
    with make_client(**small_rate(redis_url=DEAD_REDIS)) as client:
        answers = [client.get(CHEAP, headers=auth(key)) for _ in range(6)]
        missing = client.get("/v1/jobs/nope", headers=auth(key))
    assert [a.status_code for a in answers] == [200] * 6
    assert missing.status_code == 404
    assert all("ratelimit-remaining" not in a.headers for a in answers)
    warnings = [r for r in caplog.records if "rate limiter unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one warning per pause, not one per request


def test_probes_metrics_and_docs_are_not_limited(
    make_client: ClientFactory, new_key: Callable[[str], str]
) -> None:
    with make_client(**small_rate(rate_limit_burst=1)) as client:
        for _ in range(3):
            for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
                answer = client.get(path)
                assert answer.status_code == 200, path
                assert "ratelimit-limit" not in answer.headers


def test_rate_limit_zero_is_off(make_client: ClientFactory, new_key: Callable[[str], str]) -> None:
    key = new_key("unlimited")
    with make_client(rate_limit_per_minute=0, rate_limit_burst=1) as client:
        answers = [client.get(CHEAP, headers=auth(key)) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert all("ratelimit-limit" not in a.headers for a in answers)


def test_redis_script_matches_the_pure_function(redis_url: str) -> None:
    policy = RatePolicy(per_minute=60, burst=3)
    limiter = RedisRateLimiter(lambda: async_redis_from_url(redis_url), policy)
    times = [1000.0, 1000.0, 1000.0, 1000.0, 1000.5, 1001.0, 1001.0, 1003.25, 1100.0]

    async def check_each() -> None:
        tat: float | None = None
        try:
            for now in times:
                expected, new_tat = gcra_step(tat, now, policy)
                tat = new_tat if new_tat is not None else tat
                assert await limiter.check_at("parity", now) == expected, now
        finally:
            await limiter.aclose()

    asyncio.run(check_each())


def test_each_event_loop_gets_its_own_client(redis_url: str) -> None:
    """A test client runs a loop per session: the limiter must not reuse a client whose
    connections belong to a loop that has ended."""
    made: list[object] = []

    def connect() -> redis.asyncio.Redis:
        made.append(async_redis_from_url(redis_url))
        return made[-1]  # type: ignore[return-value]

    limiter = RedisRateLimiter(connect, RatePolicy(per_minute=60, burst=3))

    async def twice() -> list[bool]:
        return [(await limiter.check("loops")) is not None for _ in range(2)]

    assert asyncio.run(twice()) == [True, True]
    assert asyncio.run(twice()) == [True, True]
    assert len(made) == 2


def test_openapi_documents_429(make_client: ClientFactory) -> None:
    with make_client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    routes = [("/v1/jobs", "post"), ("/v1/batches", "post"), ("/v1/jobs/{job_id}", "get")]
    for path, method in routes:
        documented = paths[path][method]["responses"]["429"]
        assert "application/problem+json" in documented["content"]
        headers = documented["headers"].keys()
        assert {"Retry-After", "RateLimit-Limit", "RateLimit-Policy"} <= headers


# --- per-tenant work in flight -------------------------------------------------------------


def job_ids(settings_url: str, tenant_name: str) -> list[str]:
    engine = build_engine(settings_url)
    with build_sessionmaker(engine)() as session:
        owner = ensure_tenant(session, tenant_name)
        ids = list(session.scalars(select(Job.id).where(Job.tenant_id == owner.id)))
    engine.dispose()
    return ids


def set_job_status(database_url: str, job_id: str, status: JobStatus) -> None:
    engine = build_engine(database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status.value))
    engine.dispose()


def add_paged_job(database_url: str, tenant_name: str, pages: int, status: PageStatus) -> str:
    """A running job of ``tenant_name`` with ``pages`` pages in ``status``."""
    engine = build_engine(database_url)
    with transaction(build_sessionmaker(engine)) as session:
        owner = ensure_tenant(session, tenant_name)
        job = Job(
            tenant_id=owner.id,
            source_key=f"tenants/{owner.id}/jobs/x/source.png",
            media_type="image/png",
            status=JobStatus.RUNNING.value,
            pages_total=pages,
        )
        session.add(job)
        session.flush()
        for index in range(pages):
            session.add(Page(job_id=job.id, index=index, image_key="k", status=status.value))
        job_id = job.id
    engine.dispose()
    return job_id


def set_pages_status(database_url: str, job_id: str, status: PageStatus) -> None:
    """Finish a job's pages as the worker does: page rows, then the job's counters."""
    engine = build_engine(database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(update(Page).where(Page.job_id == job_id).values(status=status.value))
        job = session.get(Job, job_id)
        assert job is not None
        refresh_job(session, job)
    engine.dispose()


def stored_sources(settings: Settings) -> int:
    return len(list(settings.effective_store_dir.rglob("source.*")))


def submit(client: TestClient, key: str, name: str = "a.png") -> Any:
    return client.post("/v1/jobs", headers=auth(key), files={"file": (name, png(), "image/png")})


def submit_files(client: TestClient, key: str, count: int) -> Any:
    files = [("files", (f"p{i}.png", png(), "image/png")) for i in range(count)]
    return client.post("/v1/batches", headers=auth(key), files=files)


def test_tenant_job_limit_refuses_new_work_and_keeps_the_queued(
    make_client: ClientFactory,
    new_key: Callable[[str], str],
    settings: Settings,
    database_url: str,
    redis_client: redis.Redis,
) -> None:
    key, other = new_key("busy"), new_key("quiet")
    with make_client(tenant_max_jobs_in_flight=2) as client:
        accepted = [submit(client, key).status_code for _ in range(2)]
        refused = submit(client, key)
        refused_batch = submit_files(client, key, 1)
        other_tenant = submit(client, other)
        queued_after_refusal = sent_messages(redis_client)
        busy_jobs = job_ids(database_url, "busy")
        set_job_status(database_url, busy_jobs[0], JobStatus.SUCCEEDED)
        after_one_finished = submit(client, key)

    assert accepted == [202, 202]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "tenant_limit"
    assert refused.headers["retry-after"] == "30"
    assert refused_batch.status_code == 429
    assert refused_batch.json()["code"] == "tenant_limit"
    assert other_tenant.status_code == 202  # the limit is per tenant
    # Nothing of the refused submissions was stored or queued; the accepted jobs stay.
    assert len(busy_jobs) == 2
    assert len(queued_after_refusal) == 3
    assert after_one_finished.status_code == 202
    assert len(job_ids(database_url, "busy")) == 3
    assert stored_sources(settings) == 4


def test_files_batch_counts_every_file_against_the_job_limit(
    make_client: ClientFactory,
    new_key: Callable[[str], str],
    settings: Settings,
    database_url: str,
) -> None:
    key = new_key("many-files")
    with make_client(tenant_max_jobs_in_flight=3) as client:
        too_many = submit_files(client, key, 4)
        fits = submit_files(client, key, 3)
    assert too_many.status_code == 429
    assert too_many.json()["code"] == "tenant_limit"
    assert fits.status_code == 202, fits.text
    assert len(job_ids(database_url, "many-files")) == 3
    assert stored_sources(settings) == 3


def test_tenant_page_limit(
    make_client: ClientFactory,
    new_key: Callable[[str], str],
    settings: Settings,
    database_url: str,
) -> None:
    key = new_key("pages")
    running = add_paged_job(database_url, "pages", 3, PageStatus.QUEUED)
    with make_client(tenant_max_pages_in_flight=3) as client:
        refused = submit(client, key)
        refused_batch = submit_files(client, key, 1)
        set_pages_status(database_url, running, PageStatus.SUCCEEDED)
        accepted = submit(client, key)
    assert refused.status_code == 429
    assert refused.json()["code"] == "tenant_limit"
    assert "pages in flight" in refused.json()["detail"]
    assert refused_batch.status_code == 429
    assert accepted.status_code == 202
    assert stored_sources(settings) == 1
    assert job_count_of(database_url, "pages") == 2


def job_count_of(database_url: str, tenant_name: str) -> int:
    engine = build_engine(database_url)
    with build_sessionmaker(engine)() as session:
        owner = ensure_tenant(session, tenant_name)
        count = session.scalar(
            select(func.count()).select_from(Job).where(Job.tenant_id == owner.id)
        )
    engine.dispose()
    return int(count or 0)


def test_tenant_limits_zero_are_off(
    make_client: ClientFactory, new_key: Callable[[str], str], database_url: str
) -> None:
    key = new_key("no-limits")
    add_paged_job(database_url, "no-limits", 5, PageStatus.RUNNING)
    with make_client(tenant_max_jobs_in_flight=0, tenant_max_pages_in_flight=0) as client:
        answers = [submit(client, key).status_code for _ in range(3)]
    assert answers == [202, 202, 202]


# (status, pages_total, pages_done, pages_failed) of each of a tenant's jobs -> in flight
IN_FLIGHT_CASES = [
    ([], InFlight(0, 0)),
    ([("queued", 0, 0, 0)], InFlight(1, 0)),  # not split yet: its pages are unknown
    ([("queued", 7, 0, 0)], InFlight(1, 7)),  # being split: all its pages count at once
    ([("running", 10, 4, 1)], InFlight(1, 5)),
    ([("running", 3, 1, 0), ("queued", 2, 0, 0)], InFlight(2, 4)),
    ([("succeeded", 5, 5, 0), ("failed", 2, 0, 2), ("canceled", 9, 0, 0)], InFlight(0, 0)),
    ([("partial", 4, 3, 1), ("running", 4, 3, 0)], InFlight(1, 1)),
]


@pytest.mark.parametrize(("jobs", "expected"), IN_FLIGHT_CASES)
def test_in_flight_counts_unfinished_jobs_and_their_pages(
    database_url: str, jobs: list[tuple[str, int, int, int]], expected: InFlight
) -> None:
    engine = build_engine(database_url)
    with transaction(build_sessionmaker(engine)) as session:
        owner = ensure_tenant(session, f"counted-{new_id()}")
        stranger = ensure_tenant(session, "stranger")
        session.add(Job(tenant_id=stranger.id, source_key="s", media_type="image/png"))
        for status, total, done, failed in jobs:
            session.add(
                Job(
                    tenant_id=owner.id,
                    source_key="k",
                    media_type="image/png",
                    status=status,
                    pages_total=total,
                    pages_done=done,
                    pages_failed=failed,
                )
            )
        tenant_id = owner.id
    try:
        assert in_flight(engine, tenant_id) == expected
    finally:
        engine.dispose()
