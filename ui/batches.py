"""The batch pages: the tenant's batches, newest first, and one batch with its items in
archive order, counts by status, progress and ETA (as ``GET /v1/batches/{id}`` computes
them), live through the jobs stream of ``ui.live``, and its zip export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.listing_filters import ListParams, newest_of_tenant
from api.routes import batches
from shared.db.models import Batch, BatchStatus, JobStatus
from shared.db.session import transaction
from shared.errors import QuireError
from shared.exporters import FORMATS
from shared.schemas import BatchItemOut, BatchOut
from ui.rendering import api_context, current_session, page
from ui.sessions import SignedIn

router = APIRouter(prefix="/ui/batches", include_in_schema=False)
ITEMS_PER_PAGE = 200
EXPORT_FORMATS = tuple(FORMATS)  # the names GET /v1/batches/{id}/export takes


def eta_text(batch: BatchOut) -> str:
    """The ETA as a person reads it: "—" until a page has finished."""
    if BatchStatus(batch.status).terminal:
        return "finished"
    if batch.eta_seconds is None:
        return "—"
    minutes, seconds = divmod(batch.eta_seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"about {hours} h {minutes} min"
    return f"about {minutes} min {seconds} s" if minutes else f"about {seconds} s"


def summary(batch: BatchOut) -> dict[str, Any]:
    """What the batch page shows of a batch, and refreshes while it runs."""
    counts = batch.jobs.model_dump()
    return {
        "id": batch.id,
        "status": batch.status,
        "items_total": batch.items_total,
        "counts": {**counts, "skipped": batch.items_skipped},
        # retry-failed refuses a canceled batch
        "has_failed": counts["failed"] + counts["partial"] > 0
        and batch.status != BatchStatus.CANCELED,
        "pages": f"{batch.pages_done} / {batch.pages_total}",
        "progress": batch.progress,
        "percent": round(100 * batch.progress),
        "eta": eta_text(batch),
    }


def load_batch(
    request: Request, current: SignedIn, batch_id: str, cursor: str | None
) -> tuple[BatchOut, Sequence[BatchItemOut], str | None]:
    """The batch with its progress and a page of its items, as the API lists them."""
    with transaction(api_context(request).sessions) as session:
        tenant = current.caller.tenant
        out = batches.batch_out(session, batches.owned_batch(session, tenant, batch_id))
        items = batches.list_items(batch_id, tenant, session, cursor, ITEMS_PER_PAGE)
    return out, items.items, items.next_cursor


@router.get("", response_class=HTMLResponse)
async def batches_page(
    request: Request, status: str | None = None, cursor: str | None = None
) -> Response:
    """The tenant's batches, newest first, a page at a time, filtered by status."""
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    params = ListParams(cursor=cursor, status=[status] if status else None)

    def load() -> tuple[list[BatchOut], str | None]:
        with transaction(api_context(request).sessions) as session:
            rows, next_cursor = newest_of_tenant(
                session, Batch, "batch", BatchStatus, current.caller.tenant.id, params
            )
            return [batches.batch_out(session, b) for b in rows], next_cursor

    values: dict[str, Any] = {"statuses": [s.value for s in BatchStatus], "status": status or ""}
    try:
        found, next_cursor = await run_in_threadpool(load)
    except QuireError as e:
        return page(
            request,
            "batches.html",
            422,
            signed_in=current,
            batches=[],
            next_cursor=None,
            error=e.message,
            **values,
        )
    return page(
        request,
        "batches.html",
        signed_in=current,
        batches=found,
        next_cursor=next_cursor,
        eta=eta_text,
        **values,
    )


@router.get("/{batch_id}", response_class=HTMLResponse)
async def batch_page(request: Request, batch_id: str, cursor: str | None = None) -> Response:
    """One batch: counts, progress, ETA, actions, export, and its items in archive order."""
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        batch, items, next_cursor = await run_in_threadpool(
            load_batch, request, current, batch_id, cursor
        )
    except QuireError:
        return page(request, "missing.html", 404, signed_in=current, what=f"batch {batch_id}")
    return page(
        request,
        "batch.html",
        signed_in=current,
        batch=batch,
        view=summary(batch),
        items=items,
        cursor=cursor or "",
        next_cursor=next_cursor,
        job_statuses=[s.value for s in JobStatus],
        formats=EXPORT_FORMATS,
    )


@router.get("/{batch_id}/state")
async def batch_state(request: Request, batch_id: str, cursor: str | None = None) -> Response:
    """The batch page's live part as JSON: the summary and the shown page of items (the page
    asks for it when the jobs stream reports a change to one of the batch's jobs)."""
    current = await current_session(request)
    if current is None:
        return JSONResponse({"code": "unauthorized", "detail": "sign in again"}, 401)
    try:
        batch, items, _ = await run_in_threadpool(load_batch, request, current, batch_id, cursor)
    except QuireError as e:
        return JSONResponse({"code": e.code, "detail": e.message}, e.http_status)
    return JSONResponse(
        {**summary(batch), "items": [item.model_dump(mode="json") for item in items]}
    )


@router.get("/{batch_id}/export")
async def export_batch(
    request: Request,
    batch_id: str,
    format: Annotated[list[str] | None, Query()] = None,
    recognized: bool = False,
) -> Response:
    """The batch's zip (``GET /v1/batches/{id}/export``): the formats ticked, with
    corrections or as recognized."""
    current = await current_session(request)
    if current is None:
        return Response(status_code=401)
    context = api_context(request)
    chosen = ",".join(format or ["json"])
    try:
        return await run_in_threadpool(
            batches.export_batch,
            batch_id,
            current.caller.tenant,
            context.sessions,
            context.store,
            chosen,
            recognized,
        )
    except QuireError as e:
        return Response(e.message, status_code=e.http_status, media_type="text/plain")
