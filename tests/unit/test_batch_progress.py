"""Batch progress, ETA and final status as pure functions of the job counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.batches import BatchCounts, eta_seconds, final_status, progress
from shared.db.models import Batch, BatchStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def counts(**jobs: int) -> BatchCounts:
    pages = jobs.pop("pages", (0, 0, 0))
    started = jobs.pop("started", None)
    dropped = jobs.pop("dropped", 0)
    total, done, failed = pages
    return BatchCounts(jobs, total, done, failed, started, dropped)


@pytest.mark.parametrize(
    "jobs,expected",
    [
        ({"succeeded": 3}, BatchStatus.SUCCEEDED),
        ({"succeeded": 2, "failed": 1}, BatchStatus.PARTIAL),
        ({"partial": 1}, BatchStatus.PARTIAL),
        ({"failed": 2}, BatchStatus.FAILED),
        ({"canceled": 2}, BatchStatus.CANCELED),
        ({"failed": 1, "canceled": 1}, BatchStatus.FAILED),
        ({}, BatchStatus.FAILED),
    ],
)
def test_final_status(jobs: dict[str, int], expected: BatchStatus) -> None:
    assert final_status(counts(**jobs)) is expected


@pytest.mark.parametrize(
    "status,jobs,expected",
    [
        ("running", {"queued": 4, "pages": (0, 0, 0)}, 0.0),
        ("running", {"running": 2, "pages": (10, 4, 1)}, 0.5),
        ("running", {"running": 1, "pages": (4, 4, 0)}, 1.0),
        # A canceled job's 6 dropped pages of 10 count as finished: (2 + 6) / 10.
        ("running", {"running": 1, "canceled": 1, "pages": (10, 2, 0), "dropped": 6}, 0.8),
        ("canceled", {"canceled": 2, "pages": (10, 1, 0), "dropped": 9}, 1.0),
        ("ingesting", {"pages": (0, 0, 0)}, 0.0),
        ("succeeded", {"succeeded": 1, "pages": (3, 3, 0)}, 1.0),
        ("failed", {}, 1.0),
    ],
)
def test_progress(status: str, jobs: dict, expected: float) -> None:
    assert progress(Batch(status=status), counts(**jobs)) == expected


def test_eta_from_the_rate_so_far() -> None:
    started = NOW - timedelta(seconds=100)
    running = Batch(status="running")
    assert eta_seconds(running, counts(running=1, pages=(30, 10, 0), started=started), NOW) == 200
    assert eta_seconds(running, counts(running=1, pages=(30, 0, 0), started=started), NOW) is None
    assert eta_seconds(Batch(status="succeeded"), counts(), NOW) == 0


def test_eta_leaves_out_the_pages_a_canceled_job_dropped() -> None:
    started = NOW - timedelta(seconds=100)
    running = Batch(status="running")
    # 10 done in 100 s; of the 30 pages 10 were dropped, so 10 are left: 100 s more.
    mixed = counts(running=1, canceled=1, pages=(30, 10, 0), dropped=10, started=started)
    assert eta_seconds(running, mixed, NOW) == 100


@pytest.mark.parametrize(
    "jobs,expected",
    [
        ({"succeeded": 2, "canceled": 1}, BatchStatus.PARTIAL),
        ({"partial": 1, "canceled": 3}, BatchStatus.PARTIAL),
    ],
)
def test_final_status_with_some_jobs_canceled(jobs: dict[str, int], expected: BatchStatus) -> None:
    assert final_status(counts(**jobs)) is expected
