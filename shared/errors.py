"""The one error tree of quire.

Each error carries a stable ``code``, the HTTP status the API answers with, whether a retry
may help, and (for errors that end a page or a job) the status they lead to. Convert them
only at the boundaries: the API's exception handler and the task wrapper.
"""

from __future__ import annotations

from typing import Any, ClassVar


class QuireError(Exception):
    """Base of every error quire raises on purpose."""

    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    leads_to: ClassVar[str] = "failed"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.title
        self.extra = extra
        super().__init__(self.message)

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 problem body for this error."""
        # Extra fields never overwrite the standard members.
        return {
            **self.extra,
            "type": f"urn:quire:problem:{self.code}",
            "title": self.title,
            "status": self.http_status,
            "detail": self.message,
            "code": self.code,
        }


# --- client errors (4xx): the request is wrong, retrying it unchanged will not help ---


class InvalidRequest(QuireError):
    code = "invalid_request"
    title = "Invalid request"
    http_status = 422


class Unauthorized(QuireError):
    code = "unauthorized"
    title = "Missing or invalid API key"
    http_status = 401


class Forbidden(QuireError):
    code = "forbidden"
    title = "The API key may not do this"
    http_status = 403


class MissingScope(Forbidden):
    """The key is valid but lacks the scope the route needs (``required_scope``)."""

    code = "missing_scope"
    title = "The API key lacks a scope this route needs"


class NotFound(QuireError):
    code = "not_found"
    title = "Not found"
    http_status = 404


class ResultNotReady(QuireError):
    code = "result_not_ready"
    title = "Result not ready"
    http_status = 409


class EmptyUpload(QuireError):
    code = "empty_file"
    title = "The uploaded file is empty"
    http_status = 400


class UploadTooLarge(QuireError):
    code = "payload_too_large"
    title = "The upload exceeds the size limit"
    http_status = 413


class UnsupportedMediaType(QuireError):
    code = "unsupported_media_type"
    title = "Unsupported file type"
    http_status = 415


class CorruptImage(QuireError):
    code = "corrupt_image"
    title = "The image cannot be decoded"
    http_status = 422


class ImageTooLarge(QuireError):
    code = "image_too_large"
    title = "The image has too many pixels"
    http_status = 422


class UnsupportedDocument(QuireError):
    code = "multipage_not_supported"
    title = "A page image must have one frame"
    http_status = 422


class CorruptDocument(QuireError):
    code = "corrupt_document"
    title = "The document cannot be read"
    http_status = 422


class EncryptedDocument(QuireError):
    code = "encrypted_document"
    title = "The document is password-protected"
    http_status = 422


class TooManyPages(QuireError):
    code = "too_many_pages"
    title = "The document has more pages than allowed"
    http_status = 422


class CorruptArchive(QuireError):
    code = "corrupt_archive"
    title = "The archive cannot be read"
    http_status = 422


class Conflict(QuireError):
    code = "conflict"
    title = "The request conflicts with the current state"
    http_status = 409


class PageNotFinished(Conflict):
    """A correction to a page that has no recognized lines (yet)."""

    code = "page_not_finished"
    title = "The page has not been recognized"


class EditConflict(Conflict):
    """A correction based on a line's text that someone else has changed since."""

    code = "edit_conflict"
    title = "The line was changed since it was read"


class JobFinished(Conflict):
    """Cancel of a job that already succeeded, partly succeeded or failed."""

    code = "job_finished"
    title = "The job has already finished"


class BatchFinished(Conflict):
    """Cancel of a batch that already succeeded, partly succeeded or failed."""

    code = "batch_finished"
    title = "The batch has already finished"


class IdempotencyKeyReused(Conflict):
    """An ``Idempotency-Key`` sent again with a request that differs from the first."""

    code = "idempotency_key_reused"
    title = "The idempotency key was used for a different request"


class DuplicateUpload(Conflict):
    """``on_duplicate=reject`` and the tenant uploaded the same bytes before; the problem's
    ``duplicate_of`` names the earlier job."""

    code = "duplicate_upload"
    title = "The same file was uploaded before"


class DuplicateContent(DuplicateUpload):
    """The same refusal for a member of a batch: the member is skipped with this code."""

    code = "duplicate_content"
    title = "A batch member has the content of an earlier upload"


class KeyAlreadyRevoked(Conflict):
    """Revoke or rotate of an API key that is already revoked."""

    code = "key_already_revoked"
    title = "The API key is already revoked"


class UploadIncomplete(QuireError):
    code = "upload_incomplete"
    title = "The upload is not complete"
    http_status = 409


class CallbackRefused(QuireError):
    """The callback URL is not one quire will call (scheme, address, syntax)."""

    code = "callback_url_refused"
    title = "Callback URL refused"
    http_status = 422


class TooManyRequests(QuireError):
    """Base of the 429 answers: the caller may come back after ``retry_after`` seconds."""

    code = "too_many_requests"
    title = "Too many requests"
    http_status = 429
    retryable = True

    def __init__(self, message: str | None = None, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(message, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class RateLimited(TooManyRequests):
    """The API key has used up its request rate."""

    code = "rate_limited"
    title = "Too many requests for this API key"


class TenantLimitReached(TooManyRequests):
    """The tenant has as many jobs or pages in flight as it may; queued work is kept."""

    code = "tenant_limit"
    title = "The tenant has too much work in flight"


# --- processing errors: raised in workers, they end a page ---


class EngineFailed(QuireError):
    code = "engine_failed"
    title = "The OCR engine failed on this page"


class AttemptsExhausted(QuireError):
    code = "attempts_exhausted"
    title = "The page failed on every attempt"


# --- dependency errors (503): retry later ---


class DependencyUnavailable(QuireError):
    code = "dependency_unavailable"
    title = "A backing service is unavailable"
    http_status = 503
    retryable = True


class DatabaseUnavailable(DependencyUnavailable):
    code = "database_unavailable"
    title = "The database is unavailable"


class BrokerUnavailable(DependencyUnavailable):
    code = "broker_unavailable"
    title = "The job queue is unavailable"


class StoreUnavailable(DependencyUnavailable):
    code = "store_unavailable"
    title = "The object store is unavailable"


class DeliveryFailed(QuireError):
    """A webhook could not be delivered: DNS, connection, TLS or timeout failure."""

    code = "delivery_failed"
    title = "Webhook delivery failed"
    http_status = 502
    retryable = True


class SecretUnreadable(QuireError):
    """A stored secret was sealed under another QUIRE_SECRET_KEY (or altered)."""

    code = "secret_unreadable"
    title = "A stored secret cannot be read with this server's secret key"
    http_status = 500


class ObjectMissing(QuireError):
    code = "object_missing"
    title = "A stored object is missing"
    http_status = 500


class UnknownModel(InvalidRequest):
    """A job or training names a model the tenant does not have (or of the wrong kind)."""

    code = "unknown_model"
    title = "Unknown model"


class ModelInUse(Conflict):
    """A model still named by queued or running jobs, or a running training's base."""

    code = "model_in_use"
    title = "The model is in use"
