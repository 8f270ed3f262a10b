"""Uploads from the UI: one file becomes a job, several files (a folder keeps its paths) or
an archive a batch, through the same code as ``POST /v1/jobs`` and ``POST /v1/batches``;
a refusal answers the API's own problem document (code and message).

A single file above ``QUIRE_UI_PRESIGNED_ABOVE_MB`` goes presigned, as ``/v1/uploads`` takes
it: the page starts an upload here, ``PUT``s each part to its URL (the bucket's, or the API's
own part route with the local store), completes it with the ETags, then posts
``{"upload_id": ...}`` to ``/ui/upload/{job|batch}``."""

from __future__ import annotations

from typing import Literal, TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.context import ApiContext
from api.deps import admit_submission
from api.presign import LocalPresigner
from api.routes import batches, jobs, uploads
from shared.db.session import transaction
from shared.errors import InvalidRequest
from shared.schemas import CompleteUploadIn, CreateUploadIn, UploadOut
from ui.rendering import acting_session, api_context, current_session, page

router = APIRouter(prefix="/ui", include_in_schema=False)
MIB = 1024 * 1024
Body = TypeVar("Body", bound=BaseModel)


@router.get("/upload")
async def upload_page(request: Request) -> Response:
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    above = api_context(request).settings.ui_presigned_above_mb * MIB
    return page(request, "upload.html", signed_in=current, presigned_above=above)


@router.post("/upload/{kind}")
async def upload(request: Request, kind: Literal["job", "batch"]) -> Response:
    """The multipart body the API takes (`file` for a job or an archive, repeated `files`
    for several documents), sent by the page with its CSRF token in a header."""
    current = await acting_session(request, "upload")
    if isinstance(current, JSONResponse):
        return current
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


@router.post("/uploads")
async def start_upload(request: Request) -> Response:
    """``POST /v1/uploads`` for the page: JSON ``{filename, size_bytes, content_type}``; the
    answer is the upload with one URL per part."""
    current = await acting_session(request, "upload")
    if isinstance(current, JSONResponse):
        return current
    body = await _json_body(request, CreateUploadIn)
    context = api_context(request)
    tenant = current.caller.tenant
    await admit_submission(context, tenant)

    def start() -> UploadOut:
        with transaction(context.sessions) as session:
            return uploads.create_upload(
                body, Response(), tenant, session, context.settings, context.presigner
            )

    return _upload_answer(await run_in_threadpool(start), context, 201)


@router.post("/uploads/{upload_id}/complete")
async def complete_upload(request: Request, upload_id: str) -> Response:
    """``POST /v1/uploads/{id}/complete`` for the page: JSON ``{parts: [{number, etag}]}``."""
    current = await acting_session(request, "upload")
    if isinstance(current, JSONResponse):
        return current
    body = await _json_body(request, CompleteUploadIn)
    context = api_context(request)
    tenant = current.caller.tenant

    def complete() -> UploadOut:
        with transaction(context.sessions) as session:
            return uploads.complete_upload(
                upload_id, body, tenant, session, context.settings, context.presigner
            )

    return _upload_answer(await run_in_threadpool(complete), context, 200)


async def _json_body(request: Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as e:
        raise InvalidRequest(f"invalid upload request: {e.errors()[0]['msg']}") from e


def _upload_answer(upload: UploadOut, context: ApiContext, status: int) -> JSONResponse:
    """The upload as the page uses it; the local store's part URLs lose their origin, so
    the page PUTs them to the origin it was served from whatever ``public_base_url`` says."""
    if isinstance(context.presigner, LocalPresigner):
        for part in upload.parts:
            url = urlsplit(part.url)
            part.url = f"{url.path}?{url.query}"
    return JSONResponse(upload.model_dump(mode="json"), status_code=status)
