"""Live progress: one Server-Sent Events stream per tab carries every change to the tenant's
jobs (status, page counts), so the jobs page updates without a reload; the page falls back to
polling ``/ui/jobs.json`` when the stream fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select

from shared.db.models import Job, utcnow
from shared.db.session import transaction
from ui.rendering import api_context, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)
INTERVAL_SECONDS = 1.0
KEEPALIVE_EVERY = 15  # intervals between comments that keep proxies from closing the stream
MAX_CHANGES = 200
# A stream ends after this long and the browser opens a new one (``retry``), so an open tab
# never holds an API process that is shutting down for long.
MAX_STREAM_SECONDS = 120.0


def job_state(job: Job) -> dict[str, Any]:
    """What a jobs-page row shows of a job."""
    return {
        "id": job.id,
        "filename": job.filename,
        "batch_id": job.batch_id,
        "status": job.status,
        "pages_total": job.pages_total,
        "pages_done": job.pages_done,
        "pages_failed": job.pages_failed,
        "created_at": job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
    }


def changed_jobs(request: Request, tenant_id: str, since: datetime) -> list[dict[str, Any]]:
    """The tenant's jobs changed at or after ``since``, oldest change first."""
    query = (
        select(Job)
        .where(Job.tenant_id == tenant_id, Job.updated_at >= since)
        .order_by(Job.updated_at)
        .limit(MAX_CHANGES)
    )
    with transaction(api_context(request).sessions) as session:
        return [job_state(job) for job in session.scalars(query)]


@router.get("/events")
async def events(request: Request) -> Response:
    """``event: jobs`` with the changed jobs as JSON, every second while there are changes."""
    current = await current_session(request)
    if current is None:
        return Response(status_code=401)
    tenant_id = current.caller.tenant.id

    async def stream() -> AsyncIterator[str]:
        since = utcnow() - timedelta(seconds=5)  # changes made while the page was loading
        quiet = 0
        ends = asyncio.get_running_loop().time() + MAX_STREAM_SECONDS
        yield "retry: 3000\n\n"
        while not await request.is_disconnected() and asyncio.get_running_loop().time() < ends:
            now = utcnow()
            changes = await run_in_threadpool(changed_jobs, request, tenant_id, since)
            since = now - timedelta(milliseconds=200)  # overlap: a row committed meanwhile
            if changes:
                quiet = 0
                yield f"event: jobs\ndata: {json.dumps(changes)}\n\n"
            else:
                quiet += 1
                if quiet % KEEPALIVE_EVERY == 0:
                    yield ": keep-alive\n\n"
            await asyncio.sleep(INTERVAL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get("/jobs.json")
async def jobs_since(request: Request, seconds: float = 30.0) -> Response:
    """The polling fallback: the jobs changed in the last ``seconds``."""
    current = await current_session(request)
    if current is None:
        return JSONResponse({"code": "unauthorized", "detail": "sign in again"}, 401)
    since = utcnow() - timedelta(seconds=min(max(seconds, 1.0), 3600.0))
    changes = await run_in_threadpool(changed_jobs, request, current.caller.tenant.id, since)
    return JSONResponse(changes)
