"""The UI's pages: sign in and out, and the tenant's jobs. Every page is rendered on the
server; ``/v1`` stays bearer-only, the UI alone reads the session cookie."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.context import ApiContext
from api.deps import identify
from api.listing_filters import ListParams
from api.presign import presigned_origin
from api.routes.jobs import tenant_jobs
from shared.db.models import Job, JobStatus
from shared.db.session import transaction
from shared.errors import QuireError
from ui import actions, batches, docs, exports, live, review, upload, viewer
from ui.rendering import COOKIE, COOKIE_PATH, HERE, api_context, current_session, page, refused
from ui.security import UiHeaders, cross_site_reason, csrf_matches, ui_headers
from ui.sessions import end_session, start_session

router = APIRouter(prefix="/ui", include_in_schema=False)


def install_ui(app: FastAPI) -> None:
    """Serve the UI under ``/ui``: its pages, its assets and its response headers (the
    CSP lets pages reach the S3 endpoint that presigned uploads go to)."""
    context: ApiContext = app.state.quire
    app.add_middleware(UiHeaders, headers=ui_headers(presigned_origin(context.presigner)))
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)
    app.include_router(viewer.router)
    app.include_router(review.router)
    app.include_router(exports.router)
    app.include_router(upload.router)
    app.include_router(live.router)
    app.include_router(batches.router)
    app.include_router(actions.router)
    app.include_router(docs.router)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse("/ui/", status_code=303)
    return page(request, "login.html", signed_in=None, error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Verify the pasted key as the API would, then keep a session for it."""
    reason = cross_site_reason(request)
    if reason is not None:
        return refused(f"{reason} cannot sign in here")
    form = await request.form()
    key = str(form.get("api_key") or "").strip()
    context = api_context(request)
    try:
        if not key:
            raise ValueError("paste an API key")
        caller = await identify(context, key)
    except QuireError as e:
        return page(request, "login.html", 401, signed_in=None, error=e.message)
    except ValueError as e:
        return page(request, "login.html", 422, signed_in=None, error=str(e))
    hours = context.settings.ui_session_hours
    token, ends = await run_in_threadpool(start_session, context.sessions, caller, hours)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        expires=ends.astimezone(UTC),
        path=COOKIE_PATH,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (its token stops working everywhere) and forget the cookie."""
    reason = cross_site_reason(request)
    if reason is not None:
        return refused(f"{reason} cannot sign out here")
    current = await current_session(request)
    if current is not None:
        form = await request.form()
        sent = form.get("csrf_token")
        if not csrf_matches(current.csrf_token, sent if isinstance(sent, str) else None):
            return refused("the form's CSRF token is missing or wrong")
        await run_in_threadpool(end_session, api_context(request).sessions, request.cookies[COOKIE])
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("", include_in_schema=False)
async def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/", response_class=HTMLResponse)
async def jobs_page(
    request: Request, status: str | None = None, cursor: str | None = None
) -> Response:
    """The tenant's jobs, newest first, a page at a time, filtered by status."""
    current = await current_session(request)
    if current is None:
        return RedirectResponse("/ui/login", status_code=303)
    params = ListParams(cursor=cursor, status=[status] if status else None)
    try:

        def load() -> tuple[list[Job], str | None]:
            with transaction(api_context(request).sessions) as session:
                jobs, next_cursor = tenant_jobs(session, current.caller.tenant.id, params)
                session.expunge_all()
            return list(jobs), next_cursor

        jobs, next_cursor = await run_in_threadpool(load)
    except QuireError as e:
        return page(
            request,
            "jobs.html",
            422,
            signed_in=current,
            jobs=[],
            statuses=[],
            status=None,
            next_cursor=None,
            error=e.message,
        )
    return page(
        request,
        "jobs.html",
        signed_in=current,
        jobs=jobs,
        statuses=[s.value for s in JobStatus],
        status=status or "",
        next_cursor=next_cursor,
    )
