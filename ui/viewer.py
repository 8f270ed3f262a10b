"""The page viewer: a page's image with its line boxes drawn over it and its text beside it,
lines coloured by confidence, and corrections saved from the page (as ``PATCH /v1/...``
does, through the session: same origin, CSRF token in a header)."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from PIL import Image
from sqlalchemy import select

from api.routes import corrections as correction_routes
from api.routes.jobs import owned_job
from shared import corrections
from shared.corrections import Author, corrected_texts
from shared.db.models import Job, Page
from shared.db.session import transaction
from shared.errors import NotFound, QuireError
from shared.media import sniff
from shared.results import build_result
from ui.rendering import acting_session, api_context, current_session, page, problem
from ui.sessions import SignedIn

router = APIRouter(prefix="/ui/jobs", include_in_schema=False)
BROWSER_IMAGES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
DEFAULT_THRESHOLD = 0.6


def _load(request: Request, current: SignedIn, job_id: str) -> tuple[Job, list[Page], Any]:
    with transaction(api_context(request).sessions) as session:
        job = owned_job(session, current.caller.tenant, job_id)
        pages = list(session.scalars(select(Page).where(Page.job_id == job.id)))
        result = build_result(job, pages, corrected_texts(session, [job.id]).get(job.id, {}))
        session.expunge_all()
    return job, pages, result


@router.get("/{job_id}/pages/{index}", response_class=HTMLResponse)
async def viewer(request: Request, job_id: str, index: int) -> Response:
    """One page: the image, an SVG layer of line boxes, the lines as editable text."""
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        job, _, result = await run_in_threadpool(_load, request, current, job_id)
        shown = next(p for p in result.pages if p.index == index)
    except (NotFound, StopIteration):
        return page(request, "missing.html", 404, signed_in=current, what=f"page {index}")
    threshold = DEFAULT_THRESHOLD
    low = sum(1 for line in shown.lines if line.confidence < threshold)
    return page(
        request,
        "viewer.html",
        signed_in=current,
        job=job,
        page=shown,
        pages=len(result.pages),
        threshold=threshold,
        low=low,
    )


@router.get("/{job_id}/pages/{index}/image")
async def page_image(request: Request, job_id: str, index: int) -> Response:
    """The page's image as the browser can show it (a TIFF page is sent as PNG)."""
    current = await current_session(request)
    if current is None:
        return Response(status_code=401)

    def read() -> tuple[bytes, str]:
        context = api_context(request)
        with transaction(context.sessions) as session:
            job = owned_job(session, current.caller.tenant, job_id)
            key = session.scalar(
                select(Page.image_key).where(Page.job_id == job.id, Page.index == index)
            )
        if key is None or not context.store.exists(key):
            raise NotFound(f"no image of page {index}")
        data = context.store.get_bytes(key)
        kind = sniff(data[:64])
        if kind is not None and kind.mime in BROWSER_IMAGES:
            return data, kind.mime
        out = io.BytesIO()
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGB").save(out, "PNG")
        return out.getvalue(), "image/png"

    try:
        data, mime = await run_in_threadpool(read)
    except NotFound:
        return Response(status_code=404)
    return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=300"})


@router.post("/{job_id}/pages/{index}/lines/{line}")
async def save_line(request: Request, job_id: str, index: int, line: int) -> Response:
    """A correction from the viewer or the review queue: JSON ``{text, expected_text,
    confirm}``, CSRF token in the
    ``X-CSRF-Token`` header; answers the line's new state or the API's problem."""
    current = await acting_session(request, "correct lines")
    if isinstance(current, JSONResponse):
        return current
    body = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return JSONResponse({"code": "invalid_request", "detail": "send {text}"}, 422)
    expected = body.get("expected_text")

    def store() -> dict[str, Any]:
        with transaction(api_context(request).sessions) as session:
            job = owned_job(session, current.caller.tenant, job_id)
            row = session.scalar(select(Page).where(Page.job_id == job.id, Page.index == index))
            if row is None:
                raise NotFound(f"job {job_id!r} has no page {index}")
            author = Author(key_id=current.caller.key_id, name=current.key_name)
            corrections.correct_line(
                session,
                row,
                line,
                body["text"],
                author,
                expected_text=expected if isinstance(expected, str) else None,
                confirm=body.get("confirm") is True,
            )
            versions = corrections.history(session, row, line)
            return {"text": corrections.current_text(session, row, line), "versions": len(versions)}

    try:
        saved = await run_in_threadpool(store)
    except QuireError as e:
        return problem(e.code, e.message, e.http_status)
    return JSONResponse(saved)


@router.get("/{job_id}/pages/{index}/lines/{line}/history")
async def line_history(request: Request, job_id: str, index: int, line: int) -> Response:
    """The line's versions (``GET /v1/.../lines/{k}/history``): who, when, before, after."""
    current = await current_session(request)
    if current is None:
        return problem("unauthorized", "sign in again", 401)
    sessions = api_context(request).sessions
    try:
        history = await run_in_threadpool(
            correction_routes.line_history, job_id, index, line, current.caller, sessions
        )
    except QuireError as e:
        return problem(e.code, e.message, e.http_status)
    return JSONResponse(history.model_dump(mode="json"))


@router.post("/{job_id}/pages/{index}/review")
async def mark_reviewed(request: Request, job_id: str, index: int) -> Response:
    """Mark the page reviewed, or take the mark away (``POST /v1/.../review``): JSON
    ``{reviewed}``, CSRF token in the header; answers the page's mark."""
    current = await acting_session(request, "mark pages reviewed")
    if isinstance(current, JSONResponse):
        return current
    body = await request.json()
    reviewed = not isinstance(body, dict) or body.get("reviewed") is not False
    sessions = api_context(request).sessions
    try:
        mark = await run_in_threadpool(
            correction_routes.review_page,
            job_id,
            index,
            correction_routes.ReviewIn(reviewed=reviewed),
            current.caller,
            sessions,
        )
    except QuireError as e:
        return problem(e.code, e.message, e.http_status)
    return JSONResponse(mark.model_dump(mode="json"))
