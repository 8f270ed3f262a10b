"""``/v1/jobs/{id}/pages/{n}``: correct a recognized line, read its versions, mark a page
reviewed. Corrections are kept as versions; results and exports apply them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.caller import Caller
from api.deps import CurrentCaller, SessionsDep
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS, owned_job
from shared import corrections
from shared.corrections import MAX_LINE_CHARS, Author
from shared.db.models import ApiKey, LineCorrection, Page, utcnow
from shared.db.session import transaction
from shared.errors import NotFound
from shared.schemas import LineOut

router = APIRouter(prefix="/v1/jobs", tags=["corrections"])

PageIndex = Annotated[int, Path(ge=0, description="the page, 0-based")]
LineIndex = Annotated[int, Path(ge=0, description="the line in reading order, 0-based")]


class CorrectLineIn(BaseModel):
    """A line's new text."""

    text: str = Field(max_length=MAX_LINE_CHARS, description="one line, no control characters")
    expected_text: str | None = Field(
        default=None,
        description="the text the correction was made on: if the line has changed since, the "
        "answer is a 409 `edit_conflict` and nothing is stored",
    )
    confirm: bool = Field(
        default=False,
        description="store a version even when the text is unchanged: a person checked the "
        "line and it is right (it leaves the review queue)",
    )


class LineVersionOut(BaseModel):
    """One correction: the text before and after, who made it and when."""

    version: int = Field(description="1 for the first correction")
    text_before: str
    text_after: str
    author: str = Field(description="the API key's name (the tenant's for an unnamed key)")
    created_at: datetime
    model: str | None = Field(description="the model that recognized the original text")


class LineHistoryOut(BaseModel):
    """A line now, as recognized, and every correction of it, oldest first."""

    job_id: str
    page: int
    index: int
    line: LineOut = Field(description="the line with its current text")
    recognized_text: str
    versions: list[LineVersionOut]


class ReviewIn(BaseModel):
    """Mark a page reviewed (or take the mark away)."""

    reviewed: bool = True


class PageReviewOut(BaseModel):
    """A page's review mark."""

    job_id: str
    page: int
    reviewed_at: datetime | None
    reviewed_by: str | None


def owned_page(session: Session, caller: Caller, job_id: str, page_index: int) -> Page:
    """The page of a job of the caller's tenant; 404 for another tenant's or a missing one."""
    job = owned_job(session, caller.tenant, job_id)
    page = session.scalar(select(Page).where(Page.job_id == job.id, Page.index == page_index))
    if page is None:
        raise NotFound(f"job {job_id!r} has no page {page_index}")
    return page


def author_of(session: Session, caller: Caller) -> Author:
    """The caller as an edit's author: its key's name, else the tenant's."""
    key = session.get(ApiKey, caller.key_id)
    name = key.name if key is not None and key.name else caller.tenant.name
    return Author(key_id=caller.key_id, name=name)


def history_out(session: Session, page: Page, line_index: int) -> LineHistoryOut:
    versions = corrections.history(session, page, line_index)
    recognized = LineOut(**corrections.line_of(page, line_index))
    line = recognized
    if versions and versions[-1].text_after != recognized.text:
        line = recognized.model_copy(update={"text": versions[-1].text_after, "corrected": True})
    return LineHistoryOut(
        job_id=page.job_id,
        page=page.index,
        index=line_index,
        line=line,
        recognized_text=recognized.text,
        versions=[version_out(n, v) for n, v in enumerate(versions, start=1)],
    )


def version_out(number: int, version: LineCorrection) -> LineVersionOut:
    return LineVersionOut(
        version=number,
        text_before=version.text_before,
        text_after=version.text_after,
        author=version.author,
        created_at=version.created_at,
        model=version.model,
    )


@router.patch(
    "/{job_id}/pages/{page_index}/lines/{line_index}",
    response_model=LineHistoryOut,
    responses=CONFLICT_PROBLEMS,
    summary="Correct a line",
)
def correct_line(
    job_id: str,
    page_index: PageIndex,
    line_index: LineIndex,
    body: CorrectLineIn,
    caller: CurrentCaller,
    sessions: SessionsDep,
) -> LineHistoryOut:
    """Store the line's new text as a new version (who, when, before, after, and the model
    that read the original). Sending the text it already has stores nothing, unless
    `confirm` is true. A page not recognized yet (or failed) is a 409 `page_not_finished`."""
    with transaction(sessions) as session:
        page = owned_page(session, caller, job_id, page_index)
        corrections.correct_line(
            session,
            page,
            line_index,
            body.text,
            author_of(session, caller),
            expected_text=body.expected_text,
            confirm=body.confirm,
        )
        return history_out(session, page, line_index)


@router.get(
    "/{job_id}/pages/{page_index}/lines/{line_index}/history",
    response_model=LineHistoryOut,
    responses=PROBLEMS,
    summary="A line's versions",
)
def line_history(
    job_id: str,
    page_index: PageIndex,
    line_index: LineIndex,
    caller: CurrentCaller,
    sessions: SessionsDep,
) -> LineHistoryOut:
    """The line's current text, what was recognized, and every correction, oldest first."""
    with transaction(sessions) as session:
        return history_out(session, owned_page(session, caller, job_id, page_index), line_index)


@router.post(
    "/{job_id}/pages/{page_index}/review",
    response_model=PageReviewOut,
    responses=PROBLEMS,
    summary="Mark a page reviewed",
)
def review_page(
    job_id: str,
    page_index: PageIndex,
    body: ReviewIn,
    caller: CurrentCaller,
    sessions: SessionsDep,
) -> PageReviewOut:
    """Mark the page reviewed by the caller's key (`reviewed: false` takes the mark away);
    results show it as the page's `reviewed_at` and `reviewed_by`."""
    with transaction(sessions) as session:
        page = owned_page(session, caller, job_id, page_index)
        corrections.mark_reviewed(page, body.reviewed, author_of(session, caller), utcnow())
        return PageReviewOut(
            job_id=page.job_id,
            page=page.index,
            reviewed_at=page.reviewed_at,
            reviewed_by=page.reviewed_by,
        )
