"""Downloads from the UI: a job's result in any export format, with corrections or as
recognized (the same documents ``GET /v1/jobs/{id}/result`` answers)."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.routes.jobs import ResultFormat, load_result, render_result
from shared.errors import QuireError
from shared.exporters import FORMATS
from ui.rendering import api_context, current_session

router = APIRouter(prefix="/ui/jobs", include_in_schema=False)
EXPORT_FORMATS: tuple[str, ...] = get_args(ResultFormat)
SUFFIXES = {"json": ".json", **{name: f.suffix for name, f in FORMATS.items()}}


@router.get("/{job_id}/export")
async def export_job(
    request: Request,
    job_id: str,
    format: str = "pagexml",
    page: int = 0,
    recognized: bool = False,
) -> Response:
    """The job's result as a file to save (PAGE XML holds one page: ``page``)."""
    current = await current_session(request)
    if current is None:
        return Response(status_code=401)
    if format not in EXPORT_FORMATS:
        return Response(f"unknown format {format!r}", status_code=422, media_type="text/plain")
    context = api_context(request)
    chosen: ResultFormat = format  # type: ignore[assignment]

    def build() -> Response:
        job, result = load_result(context.sessions, current.caller.tenant, job_id, recognized)
        stem = job.filename or job.id
        suffix = f".p{page + 1:04d}" if format == "pagexml" and len(result.pages) > 1 else ""
        name = f"{stem}{suffix}{SUFFIXES[format]}".replace('"', "")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return render_result(context.store, job, result, chosen, page, False, headers)

    try:
        return await run_in_threadpool(build)
    except QuireError as e:
        return Response(e.message, status_code=e.http_status, media_type="text/plain")
