"""What every UI page shares: the templates, the API context, the signed-in session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from api.context import ApiContext
from api.deps import check_scope
from shared.errors import QuireError
from shared.key_scopes import KeyScope
from ui.security import cross_site_reason, csrf_matches
from ui.sessions import SignedIn, signed_in

HERE = Path(__file__).resolve().parent
COOKIE = "quire_session"
COOKIE_PATH = "/ui"
CSRF_HEADER = "x-csrf-token"

templates = Jinja2Templates(directory=HERE / "templates")


def api_context(request: Request) -> ApiContext:
    """The API process's services (database, store, settings)."""
    context: ApiContext = request.app.state.quire
    return context


async def current_session(request: Request) -> SignedIn | None:
    """The request's session, or None when its cookie opens none."""
    sessions = api_context(request).sessions
    return await run_in_threadpool(signed_in, sessions, request.cookies.get(COOKIE))


def page(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A template rendered as the answer."""
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def refused(why: str) -> HTMLResponse:
    """A 403 for a request that did not come from the UI's own pages."""
    return HTMLResponse(f"<h1>Forbidden</h1><p>{why}</p>", status_code=403)


def problem(code: str, detail: str, status: int) -> JSONResponse:
    """A refusal as the UI's scripts read it: the API's error code and message."""
    return JSONResponse({"code": code, "detail": detail}, status)


async def acting_session(request: Request, what: str) -> SignedIn | JSONResponse:
    """The session of a state-changing request from the UI's own pages, or the refusal:
    another site, no session, a wrong CSRF token, a key that may not write."""
    reason = cross_site_reason(request)
    if reason is not None:
        return problem("forbidden", f"{reason} cannot {what}", 403)
    current = await current_session(request)
    if current is None:
        return problem("unauthorized", "sign in again", 401)
    if not csrf_matches(current.csrf_token, request.headers.get(CSRF_HEADER)):
        return problem("forbidden", "the CSRF token is missing or wrong", 403)
    try:
        check_scope(current.caller, KeyScope.SUBMIT)
    except QuireError as e:
        return problem(e.code, e.message, e.http_status)
    return current
