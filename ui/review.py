"""The review queue page: the least confident lines across the tenant's documents (or one
batch), each as its crop with the text to confirm or correct in place."""

from __future__ import annotations

import io

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image
from sqlalchemy import select

from api.routes.jobs import owned_job
from shared.corrections import line_of
from shared.db.models import Page
from shared.db.session import transaction
from shared.errors import NotFound, QuireError
from shared.review_queue import QueuedLine, review_queue
from ui.rendering import api_context, current_session, page

router = APIRouter(prefix="/ui", include_in_schema=False)
CROP_MARGIN = 6


@router.get("/review", response_class=HTMLResponse)
async def review_page(request: Request, batch: str | None = None) -> Response:
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)

    def load() -> tuple[list[QueuedLine], int]:
        with transaction(api_context(request).sessions) as session:
            return review_queue(session, current.caller.tenant.id, batch_id=batch)

    lines, waiting = await run_in_threadpool(load)
    return page(
        request, "review.html", signed_in=current, lines=lines, waiting=waiting, batch=batch
    )


@router.get("/jobs/{job_id}/pages/{index}/lines/{line}/crop")
async def line_crop(request: Request, job_id: str, index: int, line: int) -> Response:
    """The line's box cut out of its page (a small margin around it), as PNG."""
    current = await current_session(request)
    if current is None:
        return Response(status_code=401)

    def crop() -> bytes:
        context = api_context(request)
        with transaction(context.sessions) as session:
            job = owned_job(session, current.caller.tenant, job_id)
            row = session.scalar(select(Page).where(Page.job_id == job.id, Page.index == index))
            if row is None:
                raise NotFound(f"no page {index}")
            x0, y0, x1, y1 = (int(v) for v in line_of(row, line)["bbox"])  # type: ignore[attr-defined]
            key = row.image_key
        if not context.store.exists(key):
            raise NotFound("the page's image is not stored")
        with Image.open(io.BytesIO(context.store.get_bytes(key))) as image:
            box = (
                max(0, x0 - CROP_MARGIN),
                max(0, y0 - CROP_MARGIN),
                min(image.width, x1 + CROP_MARGIN),
                min(image.height, y1 + CROP_MARGIN),
            )
            out = io.BytesIO()
            image.convert("RGB").crop(box).save(out, "PNG")
        return out.getvalue()

    try:
        data = await run_in_threadpool(crop)
    except QuireError as e:
        return Response(status_code=e.http_status)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
