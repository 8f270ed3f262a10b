"""Corrections to recognized lines: each edit a new version, and results read with them.

The engine's output in ``pages.lines`` is never changed; a correction is a row in
``line_corrections`` and a line's current text is its newest version. Results and exports
apply the corrections unless the recognized text is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.db.models import LineCorrection, Page, PageStatus, utcnow
from shared.errors import EditConflict, InvalidRequest, NotFound, PageNotFinished
from shared.schemas import ResultOut

MAX_LINE_CHARS = 10_000

# (page index, line index) -> the line's current text
CorrectedTexts = Mapping[tuple[int, int], str]


@dataclass(frozen=True)
class Author:
    """Who made an edit: the API key's id and its name (or the tenant's, for unnamed keys)."""

    key_id: str | None
    name: str


def check_text(text: str) -> str:
    """A line's new text: one line, no control characters, at most ``MAX_LINE_CHARS``."""
    if len(text) > MAX_LINE_CHARS:
        raise InvalidRequest(f"a line holds at most {MAX_LINE_CHARS} characters")
    bad = sorted({f"U+{ord(c):04X}" for c in text if ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        raise InvalidRequest(f"a line's text cannot hold control characters ({', '.join(bad)})")
    return text


def line_of(page: Page, line_index: int) -> dict[str, object]:
    """The recognized line ``line_index`` of a finished page."""
    if page.status != PageStatus.SUCCEEDED:
        raise PageNotFinished(
            f"page {page.index} is {page.status}: only a recognized page's lines can be corrected"
        )
    lines = page.lines or []
    if not 0 <= line_index < len(lines):
        raise NotFound(f"page {page.index} has no line {line_index} (it has {len(lines)})")
    return lines[line_index]


def history(session: Session, page: Page, line_index: int) -> list[LineCorrection]:
    """Every version of a line, oldest first."""
    query = (
        select(LineCorrection)
        .where(LineCorrection.page_id == page.id, LineCorrection.line_index == line_index)
        .order_by(LineCorrection.id)
    )
    return list(session.scalars(query))


def current_text(session: Session, page: Page, line_index: int) -> str:
    """The line's text now: its newest correction, else what was recognized."""
    versions = history(session, page, line_index)
    if versions:
        return versions[-1].text_after
    return str(line_of(page, line_index)["text"])


def correct_line(
    session: Session,
    page: Page,
    line_index: int,
    text: str,
    author: Author,
    expected_text: str | None = None,
    confirm: bool = False,
) -> LineCorrection | None:
    """Store ``text`` as the line's new version; None when it is the text already, unless
    ``confirm``: then a version with the text unchanged records that a person checked it.

    Raises:
        EditConflict: ``expected_text`` was given and the line's text is no longer that
            (``edit_conflict``: someone else corrected it first).
    """
    line_of(page, line_index)
    before = current_text(session, page, line_index)
    if expected_text is not None and expected_text != before:
        raise EditConflict("the line was changed since it was read: read it again and retry")
    if check_text(text) == before and not confirm:
        return None
    correction = LineCorrection(
        page_id=page.id,
        job_id=page.job_id,
        line_index=line_index,
        text_before=before,
        text_after=text,
        model=page.model,
        key_id=author.key_id,
        author=author.name,
        created_at=utcnow(),
    )
    session.add(correction)
    session.flush()
    return correction


def mark_reviewed(page: Page, reviewed: bool, author: Author, now: datetime) -> None:
    """Mark a page reviewed by ``author`` (or not reviewed any more)."""
    page.reviewed_at = now if reviewed else None
    page.reviewed_by = author.name if reviewed else None


def corrected_texts(
    session: Session, job_ids: Sequence[str]
) -> dict[str, dict[tuple[int, int], str]]:
    """Each job's corrected lines: job id -> (page index, line index) -> current text."""
    if not job_ids:
        return {}
    newest = (
        select(func.max(LineCorrection.id))
        .where(LineCorrection.job_id.in_(job_ids))
        .group_by(LineCorrection.page_id, LineCorrection.line_index)
    )
    rows = session.execute(
        select(
            LineCorrection.job_id, Page.index, LineCorrection.line_index, LineCorrection.text_after
        )
        .join(Page, Page.id == LineCorrection.page_id)
        .where(LineCorrection.id.in_(newest))
    ).all()
    found: dict[str, dict[tuple[int, int], str]] = {}
    for job_id, page_index, line_index, text in rows:
        found.setdefault(job_id, {})[(page_index, line_index)] = text
    return found


def apply_corrections(result: ResultOut, texts: CorrectedTexts, separator: str) -> ResultOut:
    """The result with each corrected line's current text (``corrected`` where it differs
    from what was recognized; a confirmed line keeps its text); a page with corrections has
    its text rebuilt from its lines, the job's from its pages."""
    if not texts:
        return result
    pages = []
    for page in result.pages:
        fixed = [
            line.model_copy(update={"text": texts[(page.index, k)], "corrected": True})
            if (page.index, k) in texts and texts[(page.index, k)] != line.text
            else line
            for k, line in enumerate(page.lines)
        ]
        if fixed == page.lines:
            pages.append(page)
        else:
            text = "\n".join(line.text for line in fixed)
            pages.append(page.model_copy(update={"lines": fixed, "text": text}))
    return result.model_copy(update={"pages": pages, "text": separator.join(p.text for p in pages)})
