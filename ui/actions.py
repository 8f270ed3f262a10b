"""Cancel, retry the failed pages of, or delete a job or a batch from the UI, through the
API's own route functions (``POST /v1/jobs/{id}/cancel`` and the rest): same origin, the
session's CSRF token in a header, a key with the ``submit`` scope; answers JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.routes import batches, jobs
from shared.errors import QuireError
from ui.rendering import acting_session, api_context, problem

router = APIRouter(prefix="/ui", include_in_schema=False)
Action = Literal["cancel", "retry-failed", "delete"]


async def answer(act: Callable[[], dict[str, Any]]) -> Response:
    """The action's outcome as JSON, or the API's problem (code and message)."""
    try:
        return JSONResponse(await run_in_threadpool(act))
    except QuireError as e:
        return problem(e.code, e.message, e.http_status)


@router.post("/jobs/{job_id}/{action}")
async def act_on_job(request: Request, job_id: str, action: Action) -> Response:
    """``{"status": ...}`` of the job after ``cancel`` or ``retry-failed``; after
    ``delete``, ``{"deleted": true}``."""
    current = await acting_session(request, f"{action} jobs")
    if isinstance(current, JSONResponse):
        return current
    context, tenant = api_context(request), current.caller.tenant

    def act() -> dict[str, Any]:
        if action == "delete":
            jobs.delete_job(job_id, tenant, context.sessions, context.store)
            return {"deleted": True}
        if action == "cancel":
            return {"status": jobs.cancel_job(job_id, tenant, context.sessions).status}
        return {"status": jobs.retry_failed(job_id, tenant, context.sessions, context.tasks).status}

    return await answer(act)


@router.post("/batches/{batch_id}/{action}")
async def act_on_batch(request: Request, batch_id: str, action: Action) -> Response:
    """``{"status": ...}`` of the batch after ``cancel``, ``{"jobs_retried": n}`` after
    ``retry-failed``, ``{"deleted": true}`` after ``delete``."""
    current = await acting_session(request, f"{action} batches")
    if isinstance(current, JSONResponse):
        return current
    context, tenant = api_context(request), current.caller.tenant
    sessions = context.sessions

    def act() -> dict[str, Any]:
        if action == "delete":
            batches.delete_batch(batch_id, tenant, sessions, context.store)
            return {"deleted": True}
        if action == "cancel":
            canceled = batches.cancel_batch(batch_id, tenant, sessions, context.settings)
            return {"status": canceled.status}
        retried = batches.retry_failed(batch_id, tenant, sessions, context.tasks)
        return {"jobs_retried": retried.jobs_retried}

    return await answer(act)
