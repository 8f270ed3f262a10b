"""API and result schemas (pydantic): the JSON users see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorInfo(BaseModel):
    """Why a job or page failed."""

    code: str = Field(examples=["corrupt_image"])
    message: str

    @classmethod
    def of(cls, code: str | None, message: str | None) -> ErrorInfo | None:
        """The error of a row's ``error_code``/``error_message`` pair, if it has one."""
        return cls(code=code, message=message or "") if code else None


class JobOut(BaseModel):
    """A job as ``GET /v1/jobs/{id}`` returns it."""

    id: str
    status: str = Field(examples=["queued", "running", "succeeded", "partial", "failed"])
    priority: str
    filename: str
    media_type: str
    pages_total: int
    pages_done: int
    pages_failed: int
    error: ErrorInfo | None = None
    batch_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class LineOut(BaseModel):
    """One recognized text line; ``bbox`` is ``[x0, y0, x1, y1]`` in page pixels."""

    text: str
    confidence: float
    bbox: list[int]


class PageOut(BaseModel):
    """One page of a result, lines in reading order."""

    index: int
    width: int | None
    height: int | None
    status: str
    text: str
    lines: list[LineOut]
    error: ErrorInfo | None = None


class ResultOut(BaseModel):
    """The JSON result of a job; pages appear as they finish."""

    job_id: str
    status: str
    text: str
    model: str | None
    pages: list[PageOut]


class ProblemOut(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
