"""Chaos 2 and 3: Redis restarted with every message lost, and PostgreSQL restarted, while
pages are in flight. Every job must still finish, each page once, each event once; while
the database is down the API answers 503 with Retry-After and recovers without a restart."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.chaos.conftest import CHAOS_TIMEOUT, ChaosSize, ChaosStack, get
from tests.chaos.ledger import Ledger, tally
from tests.chaos.services import PrivatePostgres, PrivateRedis
from tests.chaos.workload import Progress, events_for, submit_jobs, wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CHAOS_TIMEOUT)]
OUTAGE_SECONDS = 3.0


def run_with_outage(
    name: str,
    stack: ChaosStack,
    key: str,
    receiver: Receiver,
    size: ChaosSize,
    outage: object,
) -> Ledger:
    """Submit the work, call ``outage(progress)`` once a quarter of it is done, then wait for
    everything to end and count."""
    stack.start_all()
    expected = submit_jobs(stack, key, size, receiver.url)
    total = sum(expected.values())
    progress = Progress(stack.env["QUIRE_DATABASE_URL"], list(expected))
    try:
        wait_until(lambda: progress.pages_done() >= total // 4, size.deadline_seconds, "a quarter")
        at = progress.pages_done()
        notes = outage(expected)  # type: ignore[operator]
        took = wait_until(
            lambda: progress.jobs_ended() == len(expected), size.deadline_seconds, "every job"
        )
        wait_until(lambda: events_for(receiver, list(expected)) == len(expected), 120, "events")
    finally:
        progress.close()
    ledger = tally(name, stack.env["QUIRE_DATABASE_URL"], expected, receiver)
    ledger.notes.extend([f"outage after {at} of {total} pages; drained {took:.0f}s later", *notes])
    ledger.notes.append(f"processes restarted by the supervisor: {dict(stack.restarts) or 'none'}")
    print(ledger.table())
    assert ledger.ok and ledger.pages_succeeded == total, ledger.table()
    for process in ("api", "worker-cpu", "worker-gpu", "sweeper"):
        assert stack.alive(process), f"{process} died"
    return ledger


def test_redis_restart_with_data_loss_finishes_every_job(
    chaos_stack: ChaosStack,
    chaos_key: str,
    receiver: Receiver,
    size: ChaosSize,
    private_redis: PrivateRedis,
) -> None:
    def restart(_expected: dict[str, int]) -> list[str]:
        private_redis.kill()
        time.sleep(OUTAGE_SECONDS)
        private_redis.start()  # empty: every waiting and unacknowledged message is gone
        return [f"Redis down {OUTAGE_SECONDS:.0f}s, restarted empty"]

    run_with_outage(
        "Redis killed and restarted empty", chaos_stack, chaos_key, receiver, size, restart
    )


def test_postgres_restart_gives_503_then_recovers(
    chaos_stack: ChaosStack,
    chaos_key: str,
    receiver: Receiver,
    size: ChaosSize,
    private_pg: PrivatePostgres,
) -> None:
    def restart(expected: dict[str, int]) -> list[str]:
        job_url = f"{chaos_stack.url}/v1/jobs/{next(iter(expected))}"
        private_pg.stop("immediate")
        down = get(job_url, chaos_key)
        time.sleep(OUTAGE_SECONDS)
        private_pg.start()
        assert down.status_code == 503, down.text
        assert down.json()["code"] == "database_unavailable" and down.headers["retry-after"]
        recovered = wait_until(lambda: _answers(job_url, chaos_key), 30, "the API to recover")
        return [f"PostgreSQL down {OUTAGE_SECONDS:.0f}s: API 503, recovered {recovered:.1f}s after"]

    run_with_outage("PostgreSQL restarted", chaos_stack, chaos_key, receiver, size, restart)


def _answers(url: str, key: str) -> bool:
    try:
        return get(url, key).status_code == 200
    except httpx.HTTPError:
        return False
