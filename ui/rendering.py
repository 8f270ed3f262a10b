"""What every UI page shares: the templates, the API context, the signed-in session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.context import ApiContext
from ui.sessions import SignedIn, signed_in

HERE = Path(__file__).resolve().parent
COOKIE = "quire_session"
COOKIE_PATH = "/ui"

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
