"""What keeps the UI's pages safe in a browser: response headers (a strict CSP, no framing,
no sniffing) and the checks every state-changing request passes (same origin, CSRF token)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_PREFIX = "/ui"


def content_security_policy(upload_origin: str | None = None) -> str:
    """The UI's policy; ``upload_origin`` is where presigned parts go when that is not the
    UI's own origin (the S3 endpoint), and the only other origin a page may connect to."""
    connect = "'self'" if upload_origin is None else f"'self' {upload_origin}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        f"connect-src {connect}; font-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def ui_headers(upload_origin: str | None = None) -> dict[str, str]:
    """The headers of every ``/ui`` response."""
    return {
        "content-security-policy": content_security_policy(upload_origin),
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
        "cache-control": "no-store",
    }


HEADERS = ui_headers()


class UiHeaders:
    """Adds ``headers`` (``HEADERS`` unless given) to every response under ``/ui`` (pages,
    assets and errors alike)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = HEADERS if headers is None else headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == UI_PREFIX or path.startswith(UI_PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                held = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in self.headers.items()
                    if name.encode() not in held
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cross_site_reason(request: Request) -> str | None:
    """Why a state-changing request is not from one of the UI's own pages, or None.

    A browser sends ``Sec-Fetch-Site`` with every request; ``Origin`` is checked as well
    (and alone for browsers that send no fetch metadata)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request"
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        return f"a request from {origin}"
    return None


def own_origin(request: Request) -> str:
    host = request.headers.get("host", request.url.netloc)
    return f"{request.url.scheme}://{host}"


def csrf_matches(expected: str, sent: str | None) -> bool:
    """The form's CSRF token is the session's (compared in constant time)."""
    return sent is not None and hmac.compare_digest(expected.encode(), sent.encode())
