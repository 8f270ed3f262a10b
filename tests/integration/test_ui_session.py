"""The web UI's sign-in over HTTP: a server-side session from an API key, cookie flags,
CSRF and cross-site refusals, strict headers, and /v1 still bearer-only."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, update

from api.app import create_app
from shared.db.models import ApiKey, UiSession, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from tests.integration.conftest import auth
from ui.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.integration
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), "white").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    """A client that follows no redirects, as the tests read each answer."""
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, key: str) -> str:
    answer = client.post("/ui/login", data={"api_key": key}, headers=SAME_ORIGIN)
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sessions_of(settings: Settings) -> int:
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        count = int(session.scalar(select(func.count()).select_from(UiSession)) or 0)
    engine.dispose()
    return count


def test_sign_in_sets_a_strict_cookie_and_shows_the_tenants_jobs(
    browser: TestClient, new_key: Callable[..., str]
) -> None:
    tenant = f"ui-{uuid.uuid4().hex[:6]}"
    key = new_key(tenant)
    submitted = browser.post(
        "/v1/jobs", headers=auth(key), files={"file": ("letter-42.png", png(), "image/png")}
    )
    assert submitted.status_code == 202
    assert browser.get("/ui/").headers["location"] == "/ui/login"
    cookie = sign_in(browser, key)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http on loopback; see the https test
    page = browser.get("/ui/")
    assert page.status_code == 200
    assert "letter-42.png" in page.text and tenant in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in page.text and "style=" not in page.text
    filtered = browser.get("/ui/", params={"status": "failed"})
    assert "letter-42.png" not in filtered.text and "No jobs yet" in filtered.text
    # /v1 never takes the cookie: it stays bearer-only, so it has no CSRF surface.
    assert browser.get("/v1/jobs").status_code == 401


def test_over_https_the_cookie_is_secure(settings: Settings, new_key: Callable[..., str]) -> None:
    with TestClient(
        create_app(settings), base_url="https://testserver", follow_redirects=False
    ) as client:
        answer = client.post(
            "/ui/login",
            data={"api_key": new_key("ui-tls")},
            headers={"Sec-Fetch-Site": "same-origin", "Origin": "https://testserver"},
        )
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [("qk_not-a-real-key", 401, "not valid"), ("", 422, "paste an API key")],
)
def test_a_wrong_key_is_refused_with_the_reason(
    browser: TestClient, key: str, status: int, message: str
) -> None:
    answer = browser.post("/ui/login", data={"api_key": key}, headers=SAME_ORIGIN)
    assert answer.status_code == status and message in answer.text
    assert "set-cookie" not in answer.headers
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_cross_site_posts_and_a_missing_csrf_token_are_refused(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key("ui-csrf")
    evil = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    assert browser.post("/ui/login", data={"api_key": key}, headers=evil).status_code == 403
    only_origin = {"Origin": "https://evil.example"}  # a browser without fetch metadata
    assert browser.post("/ui/login", data={"api_key": key}, headers=only_origin).status_code == 403
    sign_in(browser, key)
    page = browser.get("/ui/")
    token = csrf_of(page.text)
    before = sessions_of(settings)
    assert browser.post("/ui/logout", headers=evil, data={"csrf_token": token}).status_code == 403
    assert browser.post("/ui/logout", headers=SAME_ORIGIN, data={}).status_code == 403
    wrong = browser.post("/ui/logout", headers=SAME_ORIGIN, data={"csrf_token": "x" + token})
    assert wrong.status_code == 403
    assert sessions_of(settings) == before  # still signed in
    assert browser.get("/ui/").status_code == 200


def test_sign_out_ends_the_session_on_the_server(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key("ui-out")
    sign_in(browser, key)
    stolen = browser.cookies.get("quire_session")
    token = csrf_of(browser.get("/ui/").text)
    out = browser.post("/ui/logout", headers=SAME_ORIGIN, data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    # A copy of the cookie taken before signing out opens nothing.
    browser.cookies.set("quire_session", str(stolen), path="/ui")
    assert browser.get("/ui/").headers["location"] == "/ui/login"


def test_a_revoked_or_expired_key_ends_its_sessions(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key("ui-revoke")
    sign_in(browser, key)
    assert browser.get("/ui/").status_code == 200
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        key_id = session.scalar(select(UiSession.key_id).order_by(UiSession.created_at.desc()))
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
    assert browser.get("/ui/").headers["location"] == "/ui/login"
    soon = new_key("ui-expiring", expires_at=utcnow() + timedelta(hours=1))
    cookie = sign_in(browser, soon)
    assert "expires=" in cookie.lower()  # the session ends with the key, not after 12 h
    with transaction(build_sessionmaker(engine)) as session:
        newest = session.scalar(select(UiSession).order_by(UiSession.created_at.desc()))
        assert newest is not None and newest.expires_at <= utcnow() + timedelta(hours=1)
    engine.dispose()
