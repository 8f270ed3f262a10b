"""The API's interactive docs (``/docs``: Swagger UI, ``/redoc``: ReDoc) from files vendored
under ``ui/static/vendor`` (pinned versions, licences beside them), so they work offline.

Each page gets a Content-Security-Policy of its own, as strict as the viewer allows: scripts
only from this origin and no inline script; ReDoc alone needs inline styles (it injects its
CSS at run time) and a blob: worker (its search index)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ui.rendering import templates

router = APIRouter(include_in_schema=False)
SWAGGER_UI = "vendor/swagger-ui-5.35.0"
REDOC = "vendor/redoc-2.5.4"
_COMMON = (
    "default-src 'none'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SWAGGER_CSP = f"{_COMMON}; style-src 'self'"
REDOC_CSP = f"{_COMMON}; style-src 'self' 'unsafe-inline'; worker-src blob:"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def docs_page(request: Request, name: str, policy: str) -> HTMLResponse:
    """A docs page, its viewer pointed at the app's OpenAPI document."""
    values = {"openapi_url": request.app.openapi_url, "swagger": SWAGGER_UI, "redoc": REDOC}
    answer = templates.TemplateResponse(request, name, values)
    answer.headers.update({**HEADERS, "Content-Security-Policy": policy})
    return answer


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, tried out against this server."""
    return docs_page(request, "docs_swagger.html", SWAGGER_CSP)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same document as one reference page."""
    return docs_page(request, "docs_redoc.html", REDOC_CSP)
