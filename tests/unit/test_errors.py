from __future__ import annotations

import pytest

from shared import errors
from shared.errors import QuireError


def all_error_classes() -> list[type[QuireError]]:
    found: list[type[QuireError]] = []
    todo: list[type[QuireError]] = [QuireError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_to_problem_has_the_rfc9457_fields() -> None:
    problem = errors.CorruptImage("bad PNG chunk").to_problem()
    assert problem == {
        "type": "urn:quire:problem:corrupt_image",
        "title": "The image cannot be decoded",
        "status": 422,
        "detail": "bad PNG chunk",
        "code": "corrupt_image",
    }


def test_to_problem_detail_defaults_to_title() -> None:
    error = errors.NotFound()
    assert error.message == "Not found"
    assert str(error) == "Not found"
    assert error.to_problem()["detail"] == "Not found"


def test_to_problem_includes_extra_fields() -> None:
    error = errors.ImageTooLarge("too big", max_pixels=1_000_000, width=2000)
    problem = error.to_problem()
    assert problem["max_pixels"] == 1_000_000
    assert problem["width"] == 2000
    assert problem["code"] == "image_too_large"
    assert problem["status"] == 422
    assert error.extra == {"max_pixels": 1_000_000, "width": 2000}


def test_base_error_problem() -> None:
    problem = QuireError().to_problem()
    assert problem["type"] == "urn:quire:problem:internal_error"
    assert (problem["status"], problem["title"]) == (500, "Internal error")


@pytest.mark.parametrize(
    ("cls", "code", "status", "retryable"),
    [
        (errors.QuireError, "internal_error", 500, False),
        (errors.InvalidRequest, "invalid_request", 422, False),
        (errors.Unauthorized, "unauthorized", 401, False),
        (errors.NotFound, "not_found", 404, False),
        (errors.ResultNotReady, "result_not_ready", 409, False),
        (errors.EmptyUpload, "empty_file", 400, False),
        (errors.UploadTooLarge, "payload_too_large", 413, False),
        (errors.UnsupportedMediaType, "unsupported_media_type", 415, False),
        (errors.CorruptImage, "corrupt_image", 422, False),
        (errors.ImageTooLarge, "image_too_large", 422, False),
        (errors.UnsupportedDocument, "multipage_not_supported", 422, False),
        (errors.EngineFailed, "engine_failed", 500, False),
        (errors.AttemptsExhausted, "attempts_exhausted", 500, False),
        (errors.DependencyUnavailable, "dependency_unavailable", 503, True),
        (errors.DatabaseUnavailable, "database_unavailable", 503, True),
        (errors.BrokerUnavailable, "broker_unavailable", 503, True),
        (errors.StoreUnavailable, "store_unavailable", 503, True),
        (errors.ObjectMissing, "object_missing", 500, False),
        (errors.TooManyRequests, "too_many_requests", 429, True),
        (errors.RateLimited, "rate_limited", 429, True),
        (errors.TenantLimitReached, "tenant_limit", 429, True),
        (errors.Conflict, "conflict", 409, False),
        (errors.JobFinished, "job_finished", 409, False),
        (errors.BatchFinished, "batch_finished", 409, False),
        (errors.IdempotencyKeyReused, "idempotency_key_reused", 409, False),
        (errors.KeyAlreadyRevoked, "key_already_revoked", 409, False),
        (errors.Forbidden, "forbidden", 403, False),
        (errors.MissingScope, "missing_scope", 403, False),
    ],
)
def test_class_attributes(cls: type[QuireError], code: str, status: int, retryable: bool) -> None:
    error = cls()
    assert (error.code, error.http_status, error.retryable) == (code, status, retryable)
    assert error.to_problem()["status"] == status


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))


def test_every_error_is_an_exception_with_a_title() -> None:
    for cls in all_error_classes():
        assert issubclass(cls, Exception)
        assert cls.title
        assert 400 <= cls.http_status < 600


def test_dependency_errors_share_a_base() -> None:
    with pytest.raises(errors.DependencyUnavailable):
        raise errors.DatabaseUnavailable("connection refused")


def test_too_many_requests_carries_retry_after() -> None:
    error = errors.RateLimited("slow down", retry_after=7)
    assert error.retry_after == 7
    assert error.to_problem()["retry_after"] == 7
    assert isinstance(errors.TenantLimitReached(), errors.TooManyRequests)
