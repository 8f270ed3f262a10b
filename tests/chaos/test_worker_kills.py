"""Chaos 1: the GPU worker is killed with SIGKILL three times while pages are in flight.

Every page must still end ``succeeded`` with exactly one result, and every job must send
exactly one ``job.completed`` (one ``webhook-id``), however often its delivery is retried.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.chaos.conftest import CHAOS_TIMEOUT, ChaosSize, ChaosStack
from tests.chaos.ledger import tally
from tests.chaos.workload import Progress, events_for, submit_jobs, wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CHAOS_TIMEOUT)]
KILLS = 3


def test_gpu_worker_killed_three_times_loses_nothing(
    chaos_stack: ChaosStack, chaos_key: str, receiver: Receiver, size: ChaosSize
) -> None:
    seed = int(os.environ.get("QUIRE_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    chaos_stack.start_all()
    expected = submit_jobs(chaos_stack, chaos_key, size, receiver.url)
    total = sum(expected.values())
    progress = Progress(chaos_stack.env["QUIRE_DATABASE_URL"], list(expected))
    kills_at: list[int] = []
    try:
        for k in range(KILLS):
            # A random moment inside the k-th quarter of the run, so every kill finds pages
            # in flight and the worker restarted by the previous one has picked work up.
            target = int(total * rng.uniform(0.1 + 0.22 * k, 0.25 + 0.22 * k))
            wait_until(
                lambda t=target: progress.pages_done() >= t,  # type: ignore[misc]
                size.deadline_seconds,
                f"{target} pages",
            )
            kills_at.append(progress.pages_done())
            chaos_stack.kill("worker-gpu")
        took = wait_until(
            lambda: progress.jobs_ended() == len(expected), size.deadline_seconds, "every job"
        )
        wait_until(lambda: events_for(receiver, list(expected)) == len(expected), 120, "events")
    finally:
        progress.close()
    ledger = tally(
        "kill -9 the GPU worker x3", chaos_stack.env["QUIRE_DATABASE_URL"], expected, receiver
    )
    ledger.notes.append(
        f"seed {seed}; killed after {kills_at} of {total} pages; drained {took:.0f}s later"
    )
    ledger.notes.append(f"processes restarted by the supervisor: {dict(chaos_stack.restarts)}")
    print(ledger.table())
    assert ledger.ok, ledger.table()
    assert ledger.pages_succeeded == total, ledger.table()
    assert chaos_stack.alive("worker-cpu") and chaos_stack.alive("api")
