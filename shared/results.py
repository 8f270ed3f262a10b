"""Assemble a job's result from its page rows, and render it as JSON or plain text."""

from __future__ import annotations

from collections.abc import Sequence

from shared.corrections import CorrectedTexts, apply_corrections
from shared.db.models import Job, Page, PageStatus
from shared.schemas import ErrorInfo, LineOut, PageOut, ResultOut

PAGE_SEPARATOR = "\n\f\n"  # form feed between pages, as pdftotext does


def page_out(page: Page) -> PageOut:
    """One page of the result; pages not finished yet have no text."""
    lines = [LineOut(**line) for line in page.lines or []]
    failed = page.status == PageStatus.FAILED
    error = ErrorInfo.of(page.error_code, page.error_message) if failed else None
    return PageOut(
        index=page.index,
        width=page.width,
        height=page.height,
        status=page.status,
        text=page.text or "",
        lines=lines,
        error=error,
        reviewed_at=page.reviewed_at,
        reviewed_by=page.reviewed_by,
    )


def build_result(
    job: Job, pages: Sequence[Page], corrections: CorrectedTexts | None = None
) -> ResultOut:
    """The JSON result: every page in index order, finished or not, with ``corrections``
    (see shared.corrections.corrected_texts) applied to their lines."""
    outs = [page_out(p) for p in sorted(pages, key=lambda p: p.index)]
    model = next((p.model for p in sorted(pages, key=lambda p: p.index) if p.model), None)
    result = ResultOut(
        job_id=job.id,
        status=job.status,
        text=PAGE_SEPARATOR.join(o.text for o in outs),
        model=model,
        pages=outs,
    )
    return apply_corrections(result, corrections or {}, PAGE_SEPARATOR)


def render_text(result: ResultOut) -> str:
    """Plain text: the pages' text separated by form feeds."""
    return result.text + "\n"
