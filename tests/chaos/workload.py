"""The work a chaos scenario puts in flight, and the waits around it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from shared.db.models import Job, JobStatus, Page, PageStatus
from shared.db.session import build_engine, build_sessionmaker
from tests.batch_inputs import pdf_bytes
from tests.chaos.conftest import ChaosSize, ChaosStack
from tests.webhook_receiver import Receiver


def submit_jobs(stack: ChaosStack, key: str, size: ChaosSize, callback: str) -> dict[str, int]:
    """``size.jobs`` PDFs of ``size.pages_per_job`` pages, each with a callback; returns the
    pages expected per job id."""
    expected: dict[str, int] = {}
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {key}"}) as client:
        for n in range(size.jobs):
            texts = [f"job {n} page {p}" for p in range(size.pages_per_job)]
            response = client.post(
                "/v1/jobs",
                files={"file": (f"doc{n}.pdf", pdf_bytes(texts), "application/pdf")},
                data={"callback_url": callback},
                timeout=60,
            )
            response.raise_for_status()
            expected[response.json()["id"]] = size.pages_per_job
    return expected


class Progress:
    """Reads how far the submitted jobs got, straight from the database."""

    def __init__(self, database_url: str, job_ids: list[str]) -> None:
        self.engine = build_engine(database_url)
        self.sessions = build_sessionmaker(self.engine)
        self.job_ids = job_ids

    def pages_done(self) -> int:
        """Pages that reached a terminal state; -1 while the database cannot be read."""
        try:
            with self.sessions() as session:
                return int(
                    session.scalar(
                        select(func.count()).where(
                            Page.job_id.in_(self.job_ids),
                            Page.status.in_([PageStatus.SUCCEEDED.value, PageStatus.FAILED.value]),
                        )
                    )
                    or 0
                )
        except Exception:  # the database is what this test takes down
            return -1

    def jobs_ended(self) -> int:
        try:
            with self.sessions() as session:
                statuses = session.scalars(select(Job.status).where(Job.id.in_(self.job_ids)))
                return sum(1 for s in statuses if JobStatus(s).terminal)
        except Exception:  # the database is what this test takes down
            return -1

    def close(self) -> None:
        self.engine.dispose()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for ``predicate``; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def events_for(receiver: Receiver, job_ids: list[str]) -> int:
    """Jobs that got at least one ``job.completed``."""
    seen = set()
    for request in list(receiver.received):
        event = json.loads(request.body)
        if event.get("type") == "job.completed":
            seen.add(event["data"]["job_id"])
    return len(seen & set(job_ids))
