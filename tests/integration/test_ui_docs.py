"""The API docs without a CDN: /docs (Swagger UI) and /redoc (ReDoc) reference only this
server's files, each answers with the right type, and each page has a strict CSP of its own
that the UI's pages do not share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from shared.settings import Settings
from ui.docs import REDOC_CSP, SWAGGER_CSP
from ui.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.integration
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def assets_of(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)


@pytest.mark.parametrize(
    ("path", "policy", "needs"),
    [
        ("/docs", SWAGGER_CSP, {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js"}),
        ("/redoc", REDOC_CSP, {"redoc.standalone.js"}),
    ],
)
def test_docs_pages_load_only_local_assets(
    client: TestClient, path: str, policy: str, needs: set[str]
) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == policy
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    assets = assets_of(page.text)
    assert needs <= {url.rsplit("/", 1)[-1] for url in assets}
    for url in assets:
        parts = urlsplit(url)
        assert parts.netloc in ("", "testserver"), url  # nothing from another host
        answer = client.get(parts.path)
        assert answer.status_code == 200, url
        suffix = parts.path[parts.path.rfind(".") :]
        if suffix in TYPES:
            assert TYPES[suffix] in answer.headers["content-type"], url
        else:
            assert parts.path == "/openapi.json" and answer.json()["paths"], url
    assert "cdn." not in page.text


def test_the_ui_keeps_its_own_stricter_policy(client: TestClient) -> None:
    assert client.get("/ui/login").headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-inline" not in SWAGGER_CSP
    assert client.get("/openapi.json").headers.get("content-security-policy") is None


def test_vendored_files_carry_their_licences() -> None:
    from ui.docs import REDOC, SWAGGER_UI
    from ui.rendering import HERE

    swagger, redoc = HERE / "static" / SWAGGER_UI, HERE / "static" / REDOC
    assert "Apache License" in (swagger / "LICENSE").read_text()
    assert "MIT License" in (redoc / "LICENSE").read_text()
    assert "cdn.redoc.ly" not in (redoc / "redoc.standalone.js").read_text(encoding="utf-8")
