"""The contract's resources as the client reads them: jobs, batches and uploads (datasets,
trainings and models: ``training_resources``).

Only the fields the client uses are typed; ``raw`` keeps the whole body for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL_STATUSES = frozenset({"succeeded", "partial", "failed", "canceled"})


def error_text(error: Any) -> str | None:
    """``code: message`` of an ``error`` object, or None when there is none."""
    if not isinstance(error, dict):
        return None
    return f"{error.get('code', 'error')}: {error.get('message', '')}"


@dataclass(frozen=True)
class Job:
    """One document's OCR job (``GET /v1/jobs/{id}``)."""

    id: str
    status: str
    filename: str | None
    pages_total: int
    pages_done: int
    pages_failed: int
    error: str | None
    raw: dict[str, Any] = field(repr=False)
    retry_after: float | None = None
    kind: str = "job"

    @classmethod
    def from_json(cls, body: dict[str, Any], retry_after: float | None = None) -> Job:
        """Read a Job body; ``retry_after`` comes from the response's header."""
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            filename=body.get("filename"),
            pages_total=int(body.get("pages_total") or 0),
            pages_done=int(body.get("pages_done") or 0),
            pages_failed=int(body.get("pages_failed") or 0),
            error=error_text(body.get("error")),
            raw=body,
            retry_after=retry_after,
        )

    @property
    def terminal(self) -> bool:
        """Whether the job will not change any more."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Batch:
    """A batch of documents from one archive or folder (``GET /v1/batches/{id}``)."""

    id: str
    status: str
    filename: str | None
    items_total: int
    items_skipped: int
    jobs: dict[str, int]
    pages_total: int
    pages_done: int
    pages_failed: int
    progress: float
    eta_seconds: int | None
    error: str | None
    raw: dict[str, Any] = field(repr=False)
    retry_after: float | None = None
    kind: str = "batch"

    @classmethod
    def from_json(cls, body: dict[str, Any], retry_after: float | None = None) -> Batch:
        """Read a Batch body; ``retry_after`` comes from the response's header."""
        eta = body.get("eta_seconds")
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            filename=body.get("filename"),
            items_total=int(body.get("items_total") or 0),
            items_skipped=int(body.get("items_skipped") or 0),
            jobs={str(k): int(v) for k, v in (body.get("jobs") or {}).items()},
            pages_total=int(body.get("pages_total") or 0),
            pages_done=int(body.get("pages_done") or 0),
            pages_failed=int(body.get("pages_failed") or 0),
            progress=float(body.get("progress") or 0.0),
            eta_seconds=None if eta is None else int(eta),
            error=error_text(body.get("error")),
            raw=body,
            retry_after=retry_after,
        )

    @property
    def terminal(self) -> bool:
        """Whether the batch will not change any more."""
        return self.status in TERMINAL_STATUSES


Resource = Job | Batch


@dataclass(frozen=True)
class UploadPart:
    """Where and how to ``PUT`` one part of an upload."""

    number: int
    url: str
    size: int
    headers: dict[str, str]


@dataclass(frozen=True)
class UploadedPart:
    """A part the store already holds."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class Upload:
    """A presigned (multipart) upload (``/v1/uploads``)."""

    id: str
    status: str
    size_bytes: int
    part_size: int
    parts: list[UploadPart]
    uploaded_parts: list[UploadedPart]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Upload:
        """Read an Upload body."""
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            size_bytes=int(body["size_bytes"]),
            part_size=int(body["part_size"]),
            parts=[
                UploadPart(int(p["number"]), str(p["url"]), int(p["size"]), dict(p["headers"]))
                for p in body.get("parts") or []
            ],
            uploaded_parts=[
                UploadedPart(int(p["number"]), str(p["etag"]), int(p["size"]))
                for p in body.get("uploaded_parts") or []
            ],
        )

    @property
    def completed(self) -> bool:
        """Whether the parts were joined into one object."""
        return self.status == "completed"
