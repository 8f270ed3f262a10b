"""The chaos suite's accounting: what happened to every page and job of a run, as a table.

A page is *lost* when its job never ended or it has no row; *duplicated* when more than one
row or more than one distinct ``job.completed`` event exists for it or its job. Every run
prints the table and fails on any loss or duplicate.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from shared.db.models import Job, JobStatus, Page, PageStatus
from shared.db.session import build_engine, build_sessionmaker
from tests.webhook_receiver import Receiver


@dataclass
class Ledger:
    """Counts of one chaos run."""

    scenario: str
    jobs: int = 0
    jobs_ended: int = 0
    pages_expected: int = 0
    pages_succeeded: int = 0
    pages_failed: Counter[str] = field(default_factory=Counter)
    pages_lost: int = 0
    pages_duplicated: int = 0
    events_missing: int = 0
    events_duplicated: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.pages_lost
            or self.pages_duplicated
            or self.events_missing
            or self.events_duplicated
            or self.jobs_ended != self.jobs
        )

    def table(self) -> str:
        failed = ", ".join(f"{code} x{n}" for code, n in sorted(self.pages_failed.items()))
        rows = [
            ("scenario", self.scenario),
            ("jobs (ended/total)", f"{self.jobs_ended}/{self.jobs}"),
            ("pages expected", self.pages_expected),
            ("pages succeeded", self.pages_succeeded),
            ("pages failed (reason)", failed or "0"),
            ("pages lost", self.pages_lost),
            ("pages duplicated", self.pages_duplicated),
            ("job.completed missing", self.events_missing),
            ("job.completed duplicated", self.events_duplicated),
            *(("note", note) for note in self.notes),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {name.ljust(width)} | {value} |" for name, value in rows]
        return "\n".join(["", f"chaos summary: {self.scenario}", *lines])


def tally(
    scenario: str,
    database_url: str,
    expected_pages: dict[str, int],
    receiver: Receiver | None = None,
) -> Ledger:
    """Count what the database and the webhook receiver hold for the jobs of a run.

    Args:
        scenario: Its name, for the table.
        database_url: The run's database.
        expected_pages: Pages each submitted job should have, by job id.
        receiver: Where ``job.completed`` events went, if the jobs had a callback.
    """
    ledger = Ledger(scenario, jobs=len(expected_pages))
    ledger.pages_expected = sum(expected_pages.values())
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            jobs = {j.id: j for j in session.scalars(select(Job).where(Job.id.in_(expected_pages)))}
            rows = session.execute(
                select(Page.job_id, Page.index, Page.status, Page.error_code, func.count())
                .where(Page.job_id.in_(expected_pages))
                .group_by(Page.job_id, Page.index, Page.status, Page.error_code)
            ).all()
    finally:
        engine.dispose()
    ledger.jobs_ended = sum(1 for j in jobs.values() if JobStatus(j.status).terminal)
    seen: Counter[tuple[str, int]] = Counter()
    for job_id, index, status, code, count in rows:
        seen[(job_id, index)] += int(count)
        if status == PageStatus.SUCCEEDED:
            ledger.pages_succeeded += 1
        elif status == PageStatus.FAILED:
            ledger.pages_failed[code or "unknown"] += 1
    ledger.pages_duplicated = sum(n - 1 for n in seen.values() if n > 1)
    for job_id, pages in expected_pages.items():
        job = jobs.get(job_id)
        ended = job is not None and JobStatus(job.status).terminal
        done = sum(1 for (j, _), _n in seen.items() if j == job_id)
        ledger.pages_lost += pages if not ended else max(pages - done, 0)
    if receiver is not None:
        _count_events(ledger, expected_pages, receiver)
    return ledger


def _count_events(ledger: Ledger, expected: dict[str, int], receiver: Receiver) -> None:
    ids: dict[str, set[str]] = {job_id: set() for job_id in expected}
    for request in receiver.received:
        event = json.loads(request.body)
        if event.get("type") == "job.completed" and event["data"]["job_id"] in ids:
            ids[event["data"]["job_id"]].add(request.headers.get("webhook-id", ""))
    ledger.events_missing = sum(1 for found in ids.values() if not found)
    ledger.events_duplicated = sum(len(found) - 1 for found in ids.values() if len(found) > 1)
