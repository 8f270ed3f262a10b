"""The viewer's routes over HTTP: the page image, corrections with the session's CSRF token
only, another tenant's job hidden, a TIFF page sent as PNG."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from api.app import create_app
from shared.db.models import Page
from shared.db.session import transaction
from shared.key_scopes import KeyScope
from shared.settings import Settings
from shared.storage import build_store
from tests.integration.conftest import auth
from tests.integration.test_corrections import Db
from ui.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.integration
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 200), "white").save(out, fmt)
    return out.getvalue()


def signed_in_job(browser: TestClient, key: str, db: Db, fmt: str = "PNG") -> tuple[str, str]:
    """A recognized job of ``key``'s tenant and the CSRF token of its viewer page."""
    mime = {"PNG": "image/png", "TIFF": "image/tiff"}[fmt]
    job = browser.post(
        "/v1/jobs", headers=auth(key), files={"file": ("scan", image_bytes(fmt), mime)}
    ).json()
    db.recognize(job["id"])
    answer = browser.post("/ui/login", data={"api_key": key}, headers=SAME_ORIGIN)
    assert answer.status_code == 303
    viewer = browser.get(f"/ui/jobs/{job['id']}/pages/0")
    assert viewer.status_code == 200, viewer.text
    assert viewer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert 'data-line="1"' in viewer.text and "I recieved your leter" in viewer.text
    found = re.search(r'data-csrf="([^"]+)"', viewer.text)
    assert found
    return job["id"], found.group(1)


def test_a_correction_needs_the_sessions_csrf_token_and_same_origin(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"view-{uuid.uuid4().hex[:6]}")
    job_id, csrf = signed_in_job(browser, key, Db(settings))
    url = f"/ui/jobs/{job_id}/pages/0/lines/1"
    body = {"text": "I received your letter", "expected_text": "I recieved your leter"}
    assert browser.post(url, json=body, headers=SAME_ORIGIN).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf}
    assert browser.post(url, json=body, headers=cross).status_code == 403
    saved = browser.post(url, json=body, headers={**SAME_ORIGIN, "X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json() == {
        "text": "I received your letter",
        "versions": 1,
    }
    stale = browser.post(url, json=body, headers={**SAME_ORIGIN, "X-CSRF-Token": csrf})
    assert stale.status_code == 409 and stale.json()["code"] == "edit_conflict"
    result = browser.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()
    assert result["pages"][0]["lines"][1]["text"] == "I received your letter"
    viewer = browser.get(f"/ui/jobs/{job_id}/pages/0")
    assert "I received your letter" in viewer.text and 'class="line corrected"' in viewer.text


def test_another_tenants_job_and_a_missing_page_are_not_found(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    owner, intruder = new_key("view-owner"), new_key("view-intruder")
    job_id, _ = signed_in_job(browser, owner, Db(settings))
    assert browser.get(f"/ui/jobs/{job_id}/pages/5").status_code == 404
    browser.post("/ui/login", data={"api_key": intruder}, headers=SAME_ORIGIN)
    assert browser.get(f"/ui/jobs/{job_id}/pages/0").status_code == 404
    assert browser.get(f"/ui/jobs/{job_id}/pages/0/image").status_code == 404
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/ui/").text)
    assert csrf
    answer = browser.post(
        f"/ui/jobs/{job_id}/pages/0/lines/0",
        json={"text": "x"},
        headers={**SAME_ORIGIN, "X-CSRF-Token": csrf.group(1)},
    )
    assert answer.status_code == 404


def test_page_images_are_sent_as_the_browser_can_show_them(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"view-img-{uuid.uuid4().hex[:6]}")
    db = Db(settings)
    job_id, _ = signed_in_job(browser, key, db, fmt="TIFF")
    missing = browser.get(f"/ui/jobs/{job_id}/pages/0/image")
    assert missing.status_code == 404  # the page row names an image not stored (yet)
    with transaction(db.sessions) as session:
        image_key = session.scalar(select(Page.image_key).where(Page.job_id == job_id))
    build_store(settings).put_bytes(str(image_key), image_bytes("TIFF"), "image/tiff")
    image = browser.get(f"/ui/jobs/{job_id}/pages/0/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (600, 200)
    browser.cookies.clear()
    assert browser.get(f"/ui/jobs/{job_id}/pages/0/image").status_code == 401


def test_the_review_queue_puts_the_least_confident_first_and_drops_reviewed_lines(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"review-{uuid.uuid4().hex[:6]}")
    db = Db(settings)
    job_id, _ = signed_in_job(browser, key, db)
    other, csrf = signed_in_job(browser, key, db)  # signed in again: this session's token

    def queued() -> list[str]:
        answer = browser.get("/ui/review")
        assert answer.status_code == 200
        return re.findall(r'data-url="/ui/jobs/([^"]+)"', answer.text)

    order = queued()
    # LINES: line 0 at 0.91, line 1 at 0.42; two such jobs; lowest confidence first.
    assert sorted(order[:2]) == sorted([f"{job_id}/pages/0/lines/1", f"{other}/pages/0/lines/1"])
    assert sorted(order[2:]) == sorted([f"{job_id}/pages/0/lines/0", f"{other}/pages/0/lines/0"])
    headers = {**SAME_ORIGIN, "X-CSRF-Token": csrf}
    confirm = {"text": "I recieved your leter", "confirm": True}
    assert browser.post(
        f"/ui/jobs/{job_id}/pages/0/lines/1", json=confirm, headers=headers
    ).is_success
    fix = {"text": "Dear Madam,"}
    assert browser.post(f"/ui/jobs/{other}/pages/0/lines/0", json=fix, headers=headers).is_success
    assert queued() == [f"{other}/pages/0/lines/1", f"{job_id}/pages/0/lines/0"]
    history = browser.get(f"/v1/jobs/{job_id}/pages/0/lines/1/history", headers=auth(key)).json()
    assert [v["text_after"] for v in history["versions"]] == ["I recieved your leter"]
    # Another tenant's queue holds none of these.
    browser.post("/ui/login", data={"api_key": new_key("review-other")}, headers=SAME_ORIGIN)
    assert queued() == []


def test_a_line_crop_is_cut_from_the_page(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"crop-{uuid.uuid4().hex[:6]}")
    db = Db(settings)
    job_id, _ = signed_in_job(browser, key, db)
    with transaction(db.sessions) as session:
        image_key = session.scalar(select(Page.image_key).where(Page.job_id == job_id))
    build_store(settings).put_bytes(str(image_key), image_bytes("PNG"), "image/png")
    crop = browser.get(f"/ui/jobs/{job_id}/pages/0/lines/1/crop")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/png"
    # bbox [40, 90, 520, 130] with a 6-pixel margin
    assert Image.open(io.BytesIO(crop.content)).size == (492, 52)
    assert browser.get(f"/ui/jobs/{job_id}/pages/0/lines/9/crop").status_code == 404
    # The page image purged: the crop is a 404, which the review queue shows as such.
    build_store(settings).delete(str(image_key))
    assert browser.get(f"/ui/jobs/{job_id}/pages/0/lines/1/crop").status_code == 404


def test_exports_download_with_corrections_or_as_recognized(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"export-{uuid.uuid4().hex[:6]}")
    job_id, csrf = signed_in_job(browser, key, Db(settings))
    fix = {"text": "I received your letter"}
    headers = {**SAME_ORIGIN, "X-CSRF-Token": csrf}
    assert browser.post(f"/ui/jobs/{job_id}/pages/0/lines/1", json=fix, headers=headers).is_success
    corrected = browser.get(f"/ui/jobs/{job_id}/export", params={"format": "pagexml"})
    assert corrected.status_code == 200
    assert corrected.headers["content-disposition"] == 'attachment; filename="scan.page.xml"'
    assert "I received your letter" in corrected.text and "leter" not in corrected.text
    as_read = browser.get(
        f"/ui/jobs/{job_id}/export", params={"format": "txt", "recognized": "true"}
    )
    assert "I recieved your leter" in as_read.text
    as_json = browser.get(f"/ui/jobs/{job_id}/export", params={"format": "json"})
    assert as_json.json()["pages"][0]["lines"][1]["corrected"] is True
    assert browser.get(f"/ui/jobs/{job_id}/export", params={"format": "doc"}).status_code == 422
    browser.post("/ui/login", data={"api_key": new_key("export-other")}, headers=SAME_ORIGIN)
    assert browser.get(f"/ui/jobs/{job_id}/export").status_code == 404


def test_uploads_need_the_csrf_token_and_the_submit_scope(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    tenant = f"upload-{uuid.uuid4().hex[:6]}"
    key = new_key(tenant)
    _, csrf = signed_in_job(browser, key, Db(settings))
    files = {"file": ("scan.png", image_bytes("PNG"), "image/png")}
    assert browser.post("/ui/upload/job", files=files, headers=SAME_ORIGIN).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": csrf}
    assert browser.post("/ui/upload/job", files=files, headers=cross).status_code == 403
    made = browser.post(
        "/ui/upload/job", files=files, headers={**SAME_ORIGIN, "X-CSRF-Token": csrf}
    )
    assert made.status_code == 202 and made.json()["kind"] == "job"
    batch = browser.post(
        "/ui/upload/batch",
        files=[("files", ("a/one.png", image_bytes("PNG"), "image/png"))] * 1
        + [("files", ("a/b/two.png", image_bytes("PNG"), "image/png"))],
        headers={**SAME_ORIGIN, "X-CSRF-Token": csrf},
    )
    assert batch.status_code == 202 and batch.json()["items"] == 2
    reader = new_key(tenant, scopes=[KeyScope.READ])
    browser.post("/ui/login", data={"api_key": reader}, headers=SAME_ORIGIN)
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/ui/").text)
    assert token
    refused = browser.post(
        "/ui/upload/job", files=files, headers={**SAME_ORIGIN, "X-CSRF-Token": token.group(1)}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"


def test_the_polling_fallback_lists_recent_changes_of_the_tenant_only(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    key = new_key(f"live-{uuid.uuid4().hex[:6]}")
    job_id, _ = signed_in_job(browser, key, Db(settings))
    changes = browser.get("/ui/jobs.json", params={"seconds": 60}).json()
    assert [c["id"] for c in changes] == [job_id]
    assert {"status", "pages_done", "pages_total", "filename"} <= changes[0].keys()
    browser.post("/ui/login", data={"api_key": new_key("live-other")}, headers=SAME_ORIGIN)
    assert browser.get("/ui/jobs.json").json() == []
    browser.cookies.clear()
    assert browser.get("/ui/jobs.json").status_code == 401
    assert browser.get("/ui/events").status_code == 401


def test_a_lines_history_and_the_page_review_mark(
    browser: TestClient, new_key: Callable[..., str], settings: Settings
) -> None:
    tenant = f"history-{uuid.uuid4().hex[:6]}"
    key = new_key(tenant)
    job_id, csrf = signed_in_job(browser, key, Db(settings))
    headers = {**SAME_ORIGIN, "X-CSRF-Token": csrf}
    url = f"/ui/jobs/{job_id}/pages/0"
    fix = {"text": "I received your letter", "expected_text": "I recieved your leter"}
    assert browser.post(f"{url}/lines/1", json=fix, headers=headers).is_success
    history = browser.get(f"{url}/lines/1/history")
    assert history.status_code == 200
    [version] = history.json()["versions"]
    assert version["text_before"] == "I recieved your leter"
    assert version["text_after"] == "I received your letter" and version["author"] == tenant
    assert version["created_at"]
    assert (
        history.json()
        == browser.get(f"/v1/jobs/{job_id}/pages/0/lines/1/history", headers=auth(key)).json()
    )
    assert browser.get(f"{url}/lines/7/history").status_code == 404

    viewer = browser.get(url).text
    assert 'data-reviewed="false"' in viewer and "Not reviewed" in viewer
    assert browser.post(f"{url}/review", json={}, headers=SAME_ORIGIN).status_code == 403
    marked = browser.post(f"{url}/review", json={"reviewed": True}, headers=headers)
    assert marked.status_code == 200 and marked.json()["reviewed_by"] == tenant
    viewer = browser.get(url).text
    assert 'data-reviewed="true"' in viewer and f"Reviewed by {tenant}" in viewer
    page = browser.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()["pages"][0]
    assert page["reviewed_at"] is not None and page["reviewed_by"] == tenant
    unmarked = browser.post(f"{url}/review", json={"reviewed": False}, headers=headers)
    assert unmarked.json()["reviewed_at"] is None

    # A key that may only read can look, not write: no correction, no mark.
    reader = new_key(tenant, scopes=[KeyScope.READ])
    browser.post("/ui/login", data={"api_key": reader}, headers=SAME_ORIGIN)
    token = re.search(r'data-csrf="([^"]+)"', browser.get(url).text)
    assert token
    read_headers = {**SAME_ORIGIN, "X-CSRF-Token": token.group(1)}
    assert browser.get(f"{url}/lines/1/history").status_code == 200
    for path, body in ((f"{url}/review", {"reviewed": True}), (f"{url}/lines/0", {"text": "x"})):
        refused = browser.post(path, json=body, headers=read_headers)
        assert refused.status_code == 403 and refused.json()["code"] == "missing_scope", path
    browser.cookies.clear()
    assert browser.get(f"{url}/lines/1/history").status_code == 401
