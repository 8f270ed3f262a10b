"""Turn every error into an RFC 9457 problem+json response, at this one boundary."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    DependencyUnavailable,
    MissingScope,
    QuireError,
    TooManyRequests,
    Unauthorized,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("quire.api")

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _quire_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuireError)
    headers = {}
    if isinstance(exc, DependencyUnavailable):
        headers["Retry-After"] = "5"
        log.warning("dependency unavailable: %s", exc.message)
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, MissingScope):
        # RFC 6750 section 3.1: the scope the request needs.
        scope = exc.extra.get("required_scope", "")
        headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{scope}"'
    return problem_response(exc.http_status, exc.to_problem(), headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    body = {
        "type": "urn:quire:problem:invalid_request",
        "title": "Invalid request",
        "status": 422,
        "detail": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors),
        "code": "invalid_request",
        "errors": errors,
    }
    return problem_response(422, body)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body = {
        "type": f"urn:quire:problem:{code}",
        "title": str(exc.detail),
        "status": exc.status_code,
        "detail": str(exc.detail),
        "code": code,
    }
    return problem_response(exc.status_code, body, dict(exc.headers or {}))


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, QuireError("an unexpected error occurred").to_problem())


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers; routes raise ``QuireError`` subclasses and nothing else."""
    app.add_exception_handler(QuireError, _quire_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
