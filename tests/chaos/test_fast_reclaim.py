"""Chaos at the defaults a user runs: the GPU worker killed with SIGKILL while pages are in
flight, with the production time limit (300 s), visibility timeout (900 s), page lease and
reconcile interval. Its pages must run again within 30 s (the sweeper's fast reclaim, not the
lease or the broker), and every page must end with exactly one result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db.models import Page, PageStatus
from shared.db.session import build_engine, build_sessionmaker
from tests.chaos.conftest import CHAOS_TIMEOUT, ChaosSize, ChaosStack
from tests.chaos.ledger import tally
from tests.chaos.workload import Progress, events_for, submit_jobs, wait_until
from tests.e2e.conftest import running_stack
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CHAOS_TIMEOUT)]
# The chaos suite's shortened limits; without them every setting is its default.
SHORTENED = (
    "QUIRE_TASK_SOFT_TIME_LIMIT",
    "QUIRE_TASK_TIME_LIMIT",
    "QUIRE_STALE_AFTER_SECONDS",
    "QUIRE_RECONCILE_INTERVAL_SECONDS",
    "QUIRE_MAX_ATTEMPTS",
    "QUIRE_WORKER_STALL_SECONDS",
)
TARGET_SECONDS = 30


@pytest.fixture
def default_stack(chaos_env: dict[str, str], tmp_path: Path) -> Iterator[ChaosStack]:
    env = {k: v for k, v in chaos_env.items() if k not in SHORTENED}
    with running_stack(ChaosStack, env, tmp_path) as running:
        yield running


def running_pages(database_url: str) -> dict[tuple[str, int], datetime]:
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Page.job_id, Page.index, Page.started_at).where(
                    Page.status == PageStatus.RUNNING.value, Page.claimed_by.is_not(None)
                )
            ).all()
    finally:
        engine.dispose()
    return {(job_id, index): started for job_id, index, started in rows}


def restarted(database_url: str, pages: dict[tuple[str, int], datetime]) -> dict:
    """Each page's start after the kill (None while it has not run again); a page the worker
    finished in the instant before the kill is left out."""
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Page.job_id, Page.index, Page.started_at, Page.status)
            ).all()
    finally:
        engine.dispose()
    now = {(job_id, index): (started, status) for job_id, index, started, status in rows}
    return {
        key: now[key][0] if now[key][0] != pages[key] else None
        for key in pages
        if not (now[key][0] == pages[key] and now[key][1] == PageStatus.SUCCEEDED)
    }


def test_a_killed_gpu_workers_pages_run_again_within_30_s_at_default_limits(
    default_stack: ChaosStack, chaos_key: str, receiver: Receiver, size: ChaosSize
) -> None:
    database = default_stack.env["QUIRE_DATABASE_URL"]
    default_stack.start_all()
    expected = submit_jobs(default_stack, chaos_key, size, receiver.url)
    progress = Progress(database, list(expected))
    try:
        wait_until(lambda: bool(running_pages(database)), 300, "pages in flight")
        held = running_pages(database)
        killed_at = datetime.now(UTC)
        default_stack.kill("worker-gpu")  # the supervisor starts it again
        wait_until(lambda: all(restarted(database, held).values()), 120, "the dead worker's pages")
        again = restarted(database, held)
        took = wait_until(
            lambda: progress.jobs_ended() == len(expected), size.deadline_seconds, "every job"
        )
        wait_until(lambda: events_for(receiver, list(expected)) == len(expected), 120, "events")
    finally:
        progress.close()
    latency = max((started - killed_at).total_seconds() for started in again.values())
    ledger = tally("kill -9 the GPU worker at default limits", database, expected, receiver)
    ledger.notes.append(
        f"{len(held)} pages in flight at the kill; all running again {latency:.1f} s after it "
        f"(target {TARGET_SECONDS} s); drained {took:.0f} s later"
    )
    print(ledger.table())
    assert ledger.ok, ledger.table()
    assert ledger.pages_succeeded == sum(expected.values()), ledger.table()
    assert latency <= TARGET_SECONDS, ledger.table()
