"""Uploads from the UI: one file becomes a job, several files (a folder keeps its paths) or
an archive a batch, through the same code as ``POST /v1/jobs`` and ``POST /v1/batches``;
a refusal answers the API's own problem document (code and message)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.deps import admit_submission, check_scope
from api.routes import batches, jobs
from shared.key_scopes import KeyScope
from ui.rendering import api_context, current_session, page
from ui.security import cross_site_reason, csrf_matches

router = APIRouter(prefix="/ui", include_in_schema=False)
CSRF_HEADER = "x-csrf-token"


@router.get("/upload")
async def upload_page(request: Request) -> Response:
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    return page(request, "upload.html", signed_in=current)


@router.post("/upload/{kind}")
async def upload(request: Request, kind: Literal["job", "batch"]) -> Response:
    """The multipart body the API takes (`file` for a job or an archive, repeated `files`
    for several documents), sent by the page with its CSRF token in a header."""
    reason = cross_site_reason(request)
    if reason is not None:
        return JSONResponse({"code": "forbidden", "detail": f"{reason} cannot upload"}, 403)
    current = await current_session(request)
    if current is None:
        return JSONResponse({"code": "unauthorized", "detail": "sign in again"}, 401)
    if not csrf_matches(current.csrf_token, request.headers.get(CSRF_HEADER)):
        return JSONResponse({"code": "forbidden", "detail": "the CSRF token is wrong"}, 403)
    check_scope(current.caller, KeyScope.SUBMIT)
    context = api_context(request)
    tenant = current.caller.tenant
    await admit_submission(context, tenant)
    answer = Response()
    if kind == "job":
        job = await jobs.submit_job(request, answer, tenant, context, None)
        return JSONResponse(
            {"kind": "job", "id": job.id, "status": job.status}, status_code=answer.status_code
        )
    batch = await batches.create_batch(
        request,
        answer,
        tenant,
        context.settings,
        context.store,
        context.engine,
        context.sessions,
        context.tasks,
        None,
    )
    return JSONResponse(
        {"kind": "batch", "id": batch.id, "status": batch.status, "items": batch.items_total},
        status_code=answer.status_code,
    )
