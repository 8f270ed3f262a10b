"""The review queue: recognized lines across a tenant's documents (or one batch), lowest
confidence first, that no person has corrected or confirmed yet."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import Job, LineCorrection, Page, PageStatus

# The pages looked at for one queue: the newest recognized pages, so the queue stays quick on
# a large tenant (older pages come up once the newer ones are reviewed).
MAX_PAGES_SCANNED = 2000


@dataclass(frozen=True)
class QueuedLine:
    """A line waiting for review."""

    job_id: str
    filename: str
    page_index: int
    line_index: int
    text: str
    confidence: float


def review_queue(
    session: Session, tenant_id: str, batch_id: str | None = None, limit: int = 50
) -> tuple[list[QueuedLine], int]:
    """The ``limit`` least confident lines still to review, and how many wait in all (of
    the pages scanned)."""
    query = (
        select(Page.id, Page.job_id, Page.index.label("page_index"), Page.lines, Job.filename)
        .join(Job, Job.id == Page.job_id)
        .where(Job.tenant_id == tenant_id, Page.status == PageStatus.SUCCEEDED.value)
        .order_by(Page.finished_at.desc(), Page.id)
        .limit(MAX_PAGES_SCANNED)
    )
    if batch_id is not None:
        query = query.where(Job.batch_id == batch_id)
    pages = session.execute(query).all()
    reviewed = set(
        session.execute(
            select(LineCorrection.page_id, LineCorrection.line_index).where(
                LineCorrection.page_id.in_([p.id for p in pages])
            )
        ).tuples()
    )
    waiting = [
        QueuedLine(
            job_id=p.job_id,
            filename=p.filename,
            page_index=p.page_index,
            line_index=k,
            text=str(line.get("text", "")),
            confidence=float(line.get("confidence", 0.0)),
        )
        for p in pages
        for k, line in enumerate(p.lines or [])
        if (p.id, k) not in reviewed
    ]
    waiting.sort(key=lambda q: (q.confidence, q.job_id, q.page_index, q.line_index))
    return waiting[:limit], len(waiting)
