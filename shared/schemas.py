"""API and result schemas (pydantic): the JSON users see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from shared.filenames import clean_filename

# Text that is stored or looked up in the database: PostgreSQL text cannot hold NUL.
NO_NUL = r"^[^\x00]*$"
MODEL_DESCRIPTION = (
    "the models to use: a model id or shipped model name (GET /v1/models), the other kind "
    "from your defaults, or a detector and a recognizer joined by '+'; your defaults if absent"
)
ON_DUPLICATE_DESCRIPTION = (
    "What a file this tenant uploaded before (same SHA-256, never matched across tenants) "
    "does: `process` it again, `reuse` the newest succeeded earlier job's result (a new job, "
    "succeeded at once, with `duplicate_of`; no OCR), or `reject` it (409 `duplicate_upload` "
    "naming the earlier job; in a batch the item is skipped as `duplicate_content`). An "
    "earlier job that failed, is unfinished or was deleted does not count: the file is "
    "processed. Default: `QUIRE_ON_DUPLICATE` (`process` unless set)."
)


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
    status: str = Field(
        examples=["queued", "running", "succeeded", "partial", "failed", "canceled"]
    )
    priority: str
    filename: str
    media_type: str
    pages_total: int
    pages_done: int
    pages_failed: int
    error: ErrorInfo | None = None
    batch_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    content_sha256: str | None = Field(
        None,
        description="SHA-256 (hex) of the uploaded file's bytes; duplicates are found by it, "
        "within the tenant only.",
    )
    duplicate_of: str | None = Field(
        None,
        description="With `on_duplicate=reuse`: the earlier job (same file, succeeded) whose "
        "result this job copied instead of running OCR; it may since have been deleted.",
    )
    models: dict[str, str | None] | None = Field(
        None,
        description="The models chosen at submit (`model`, else your defaults): detector and "
        "recognizer ids or shipped names; null for one means the worker's own engine stage, "
        "null for both the worker's engine. The result's `model` names the versions used.",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobList(BaseModel):
    """A page of jobs, newest first; pass ``next_cursor`` to get the next."""

    items: list[JobOut]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class LineOut(BaseModel):
    """One recognized text line; ``bbox`` is ``[x0, y0, x1, y1]`` in page pixels.

    ``handwritten`` says which kind of recognizer read the line (as Textract's TextType and
    Azure's isHandwritten do); it is None for results stored before lines said so.
    """

    text: str
    confidence: float
    bbox: list[int]
    handwritten: bool | None = None
    corrected: bool = Field(default=False, description="its text is a person's correction")


class PageOut(BaseModel):
    """One page of a result, lines in reading order."""

    index: int
    width: int | None
    height: int | None
    status: str
    text: str
    lines: list[LineOut]
    error: ErrorInfo | None = None
    reviewed_at: datetime | None = Field(default=None, description="when marked reviewed")
    reviewed_by: str | None = None


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


class BatchJobsOut(BaseModel):
    """A batch's jobs by status."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    canceled: int = 0


class BatchOut(BaseModel):
    """A batch as ``GET /v1/batches/{id}`` returns it."""

    id: str
    status: str = Field(
        examples=["ingesting", "running", "succeeded", "partial", "failed", "canceled"]
    )
    priority: str
    filename: str
    items_total: int = Field(description="Members read so far (grows while ingesting).")
    items_skipped: int
    jobs: BatchJobsOut
    pages_total: int
    pages_done: int
    pages_failed: int
    progress: float = Field(ge=0.0, le=1.0)
    eta_seconds: int | None = Field(None, description="None until a page has finished.")
    error: ErrorInfo | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    on_duplicate: str = Field(
        "process",
        examples=["process", "reuse", "reject"],
        description="What a member the tenant uploaded before does (see `POST /v1/batches`).",
    )
    created_at: datetime
    ingested_at: datetime | None = None
    finished_at: datetime | None = None


class BatchList(BaseModel):
    """A page of batches, newest first; pass ``next_cursor`` to get the next."""

    items: list[BatchOut]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class BatchItemOut(BaseModel):
    """One member of a batch: its job's status, or ``skipped`` with the reason."""

    seq: int
    path: str
    status: str
    job_id: str | None = None
    pages_total: int = 0
    pages_done: int = 0
    error: ErrorInfo | None = None


class BatchItemsPage(BaseModel):
    """A page of batch items in archive order; pass ``next_cursor`` to get the next."""

    items: list[BatchItemOut]
    next_cursor: str | None = None


class CreateBatchIn(BaseModel):
    """``POST /v1/batches`` with an archive uploaded through ``/v1/uploads``."""

    upload_id: str = Field(pattern=NO_NUL)
    priority: str = Field("bulk", pattern="^(interactive|bulk)$")
    callback_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    on_duplicate: str | None = Field(
        None,
        pattern="^(process|reuse|reject)$",
        description=ON_DUPLICATE_DESCRIPTION,
    )
    model: str | None = Field(None, max_length=400, description=MODEL_DESCRIPTION)


class CreateJobIn(BaseModel):
    """``POST /v1/jobs`` with an image, PDF or TIFF uploaded through ``/v1/uploads``."""

    upload_id: str = Field(pattern=NO_NUL)
    priority: str = Field("interactive", pattern="^(interactive|bulk)$")
    callback_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(None, max_length=400, description=MODEL_DESCRIPTION)


class RetryFailedOut(BaseModel):
    """What ``retry-failed`` sent back to the queue."""

    batch_id: str
    jobs_retried: int


class CreateUploadIn(BaseModel):
    """``POST /v1/uploads``: announce a file to send with presigned URLs."""

    filename: str = Field(min_length=1, max_length=512, pattern=NO_NUL)
    size_bytes: int = Field(gt=0)
    content_type: str = Field("application/octet-stream", max_length=128, pattern=NO_NUL)

    @field_validator("filename", "content_type")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if clean_filename(value) != value:
            raise ValueError("must not contain control characters")
        return value


class UploadPartOut(BaseModel):
    """Where to ``PUT`` one part: the bytes ``[(number-1)*part_size, number*part_size)``."""

    number: int
    url: str
    size: int
    headers: dict[str, str] = Field(default_factory=dict)


class UploadedPartOut(BaseModel):
    """A part already stored."""

    number: int
    etag: str
    size: int


class UploadOut(BaseModel):
    """A presigned upload; ``GET`` it again for fresh URLs and the parts already stored."""

    id: str
    status: str = Field(examples=["pending", "completed"])
    filename: str
    size_bytes: int
    part_size: int
    parts: list[UploadPartOut]
    uploaded_parts: list[UploadedPartOut] = Field(default_factory=list)
    expires_at: datetime


class CompletedPartIn(BaseModel):
    """A part as the client sent it: its number and the ``ETag`` the store answered."""

    number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200, pattern=NO_NUL)


class CompleteUploadIn(BaseModel):
    """``POST /v1/uploads/{id}/complete``."""

    parts: list[CompletedPartIn] = Field(min_length=1, max_length=10_000)
