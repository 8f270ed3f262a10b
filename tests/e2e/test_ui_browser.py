"""The web UI in a real browser (Debian's chromium driven by Playwright) against the API and
workers as real processes: sign in, the jobs page updating, a cross-site form refused, and no
console errors or CSP violations on any page."""

from __future__ import annotations

import io
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from shared.db.models import Page
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from shared.storage import build_store
from shared.storage.s3 import allow_browser_uploads
from tests.conftest import service_missing
from tests.e2e.conftest import REPO, Stack, free_port, issue_key, poll_job, wait_for

pytestmark = pytest.mark.e2e
CHROMIUM = os.environ.get("QUIRE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "img"


@pytest.fixture
def api_key(stack_env: dict[str, str]) -> str:
    """A tenant of this test's own: the database outlives the test's bucket, so the review
    queue would otherwise list earlier tests' lines whose images are gone."""
    return issue_key(stack_env["QUIRE_DATABASE_URL"], f"ui-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless chromium; missing, it skips locally and fails in CI."""
    if shutil.which(CHROMIUM) is None:
        service_missing(f"chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("the playwright package (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Console:
    """Every console error and CSP violation a page reports."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _message(self, message: Any) -> None:
        if message.type in ("error", "warning") or "Content Security Policy" in message.text:
            self.errors.append(f"{message.type}: {message.text}")


def letter_png(*lines: str) -> bytes:
    image = Image.new("RGB", (900, 120 + 90 * len(lines)), "white")
    for n, text in enumerate(lines):
        ImageDraw.Draw(image).text((40, 60 + 90 * n), text, fill="black", font_size=40)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def evil_site(stack: Stack) -> Iterator[str]:
    """Another origin whose page posts a form to the UI's sign-out, as a forged request."""
    form = (
        f'<form id="f" method="post" action="{stack.url}/ui/logout">'
        '<input name="csrf_token" value="guess"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(form)

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # localhost, not 127.0.0.1: another site as well as another origin.
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()


def start(stack: Stack, browser: Any) -> tuple[Any, Any, Console]:
    """The API and both workers started; a browser context, its page and its console."""
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    return context, page, Console(page)


def test_sign_in_watch_a_job_finish_and_refuse_a_forged_post(
    stack: Stack, api_key: str, browser: Any, evil_site: str, tmp_path: Path
) -> None:
    context, page, console = start(stack, browser)

    page.goto(f"{stack.url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("#api_key", "qk_wrong")
    page.click("button[type=submit]")
    assert "not valid" in page.locator(".error").inner_text()
    assert context.cookies() == []
    # The refusal is a 401, which the browser reports; that one is expected, nothing else.
    assert len(console.errors) == 1 and "401" in console.errors[0], console.errors
    console.errors.clear()

    page.fill("#api_key", api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/ui/")
    [cookie] = context.cookies()
    assert cookie["name"] == "quire_session" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"

    headers = {"X-API-Key": api_key}
    page.evaluate("window.quireMarker = 'same document'")  # a reload would drop it
    job = httpx.post(
        f"{stack.url}/v1/jobs",
        headers=headers,
        files={
            "file": ("letter.png", letter_png("Dear Sir, thank you", "for the books"), "image/png")
        },
    ).json()
    # Live progress: the row appears and reaches succeeded without a reload.
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    row.locator(".status", has_text="succeeded").wait_for(timeout=60_000)
    assert page.evaluate("window.quireMarker") == "same document"
    assert page.locator(".jobs-page .empty").count() == 0  # "No jobs yet." went with it
    poll_job(stack.url, api_key, job["id"], {"succeeded"})
    # UPDATE_SCREENSHOTS=1 writes the README's picture; otherwise it stays in tmp.
    shots = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(shots / "ui_jobs.png"))
    assert (shots / "ui_jobs.png").stat().st_size > 10_000

    # The viewer: boxes and lines linked both ways, keyboard moves, Enter saves a correction.
    page.click(f"tr[data-job-id='{job['id']}'] a.open")
    page.wait_for_url(f"{stack.url}/ui/jobs/{job['id']}/pages/0")
    lines = page.locator("#lines .line")
    assert lines.count() >= 2, page.content()
    page.wait_for_function("() => document.getElementById('page-image').naturalWidth === 900")
    lines.nth(1).hover()
    assert "active" in (page.locator(".box[data-line='1']").get_attribute("class") or "")
    page.locator(".box[data-line='0']").hover()
    assert "active" in (lines.nth(0).get_attribute("class") or "")
    first = lines.nth(0).locator(".text")
    first.click()
    page.keyboard.press("ArrowDown")
    assert lines.nth(1).locator(".text").evaluate("e => e === document.activeElement")
    page.keyboard.press("ArrowUp")
    first.fill("Dear Madam, thank you")
    first.press("Enter")
    page.wait_for_function("() => document.querySelector('.line .state').textContent === 'saved'")
    # The focused line's history: the correction, who made it, before and after.
    first.focus()
    version = page.locator("#history-versions .version")
    version.first.wait_for()
    assert version.count() == 1 and "Dear Madam, thank you" in version.inner_text()
    assert "Dear Sir, thank you" in page.locator("#history-versions del").inner_text()
    page.click("#mark-reviewed")
    page.locator("#review-state", has_text="Reviewed by").wait_for()
    assert page.locator("#mark-reviewed").inner_text() == "Unmark reviewed"
    page.locator("#threshold").fill("1")
    read = httpx.get(f"{stack.url}/v1/jobs/{job['id']}/result", headers=headers).json()
    below = [line for line in read["pages"][0]["lines"] if line["confidence"] < 1]
    assert below  # the engine is sure of no line of a handwritten page
    assert page.locator("#low-count").inner_text() == f"{len(below)} low"
    page.screenshot(path=str(shots / "ui_viewer.png"))
    exported = httpx.get(
        f"{stack.url}/v1/jobs/{job['id']}/result",
        headers=headers,
        params={"format": "pagexml"},
    ).text
    assert "Dear Madam, thank you" in exported
    with page.expect_download() as download:
        page.click("#export")  # PAGE XML of this page, with corrections (the default)
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "letter.png.page.xml" and "Dear Madam, thank you" in saved.read_text()

    # The review queue: the corrected line is gone; Enter confirms the next and it leaves.
    page.goto(f"{stack.url}/ui/review")
    queued = page.locator("#queue .queued")
    texts = [queued.nth(i).locator(".text").input_value() for i in range(queued.count())]
    assert "Dear Madam, thank you" not in texts and texts, texts
    page.wait_for_function(  # the crops load lazily; under load they come late
        "() => { const i = document.querySelector('#queue .queued .crop');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    before = queued.count()
    page.screenshot(path=str(shots / "ui_review.png"))
    page.keyboard.press("Enter")  # the first line has the focus
    page.wait_for_function(
        f"() => document.querySelectorAll('#queue .queued').length === {before - 1}"
    )
    history = httpx.get(
        f"{stack.url}/v1/jobs/{job['id']}/pages/0/lines/1/history", headers=headers
    ).json()
    assert [v["text_before"] == v["text_after"] for v in history["versions"]] == [True]
    reviewed = httpx.get(f"{stack.url}/v1/jobs/{job['id']}/result", headers=headers).json()
    assert reviewed["pages"][0]["reviewed_at"] is not None

    # Delete from the viewer: dismissed once (nothing happens), then confirmed.
    page.goto(f"{stack.url}/ui/jobs/{job['id']}/pages/0")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click(".actions .act-delete")
    assert httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers=headers).status_code == 200
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".actions .act-delete")
    page.wait_for_url(f"{stack.url}/ui/")
    assert page.locator(f"tr[data-job-id='{job['id']}']").count() == 0
    assert httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers=headers).status_code == 404

    forged = context.new_page()
    with forged.expect_response(lambda r: r.url.endswith("/ui/logout")) as answer:
        forged.goto(evil_site)
    assert answer.value.status == 403
    page.reload()
    assert page.url == f"{stack.url}/ui/"  # still signed in

    page.click(".signout button")
    page.wait_for_url(f"{stack.url}/ui/login")
    assert context.cookies() == []
    assert console.errors == []
    context.close()


def test_upload_files_a_folder_and_a_refused_file(
    stack: Stack, api_key: str, browser: Any, tmp_path: Path
) -> None:
    context, page, console = start(stack, browser)
    page.goto(f"{stack.url}/ui/login")
    page.fill("#api_key", api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/ui/")
    page.click("nav >> text=Upload")
    page.wait_for_url(f"{stack.url}/ui/upload")

    folder = tmp_path / "box1"
    (folder / "letters").mkdir(parents=True)
    (folder / "letters" / "one.png").write_bytes(letter_png("first letter"))
    (folder / "two.png").write_bytes(letter_png("second letter"))
    page.set_input_files("#pick-folder", str(folder))
    done = page.locator(".upload-row.done")
    done.first.wait_for()
    assert "batch of 2" in done.first.inner_text()
    batch_id = done.first.get_attribute("data-id")

    single = tmp_path / "note.png"
    single.write_bytes(letter_png("a note"))
    refused = tmp_path / "notes.txt"
    refused.write_text("not a scan")
    page.set_input_files("#pick-files", str(single))
    page.wait_for_function("() => document.querySelectorAll('.upload-row.done').length === 2")
    assert "job" in page.locator(".upload-row.done").first.inner_text()
    page.set_input_files("#pick-files", str(refused))
    failed = page.locator(".upload-row.failed")
    failed.wait_for()
    assert "unsupported_media_type" in failed.inner_text(), failed.inner_text()
    # The refusal is the 415 the browser reports; nothing else.
    assert len(console.errors) == 1 and "415" in console.errors[0], console.errors

    items = httpx.get(
        f"{stack.url}/v1/batches/{batch_id}/items", headers={"X-API-Key": api_key}
    ).json()["items"]
    assert sorted(i["path"] for i in items) == ["box1/letters/one.png", "box1/two.png"]
    context.close()


def sign_in(stack: Stack, page: Any, api_key: str) -> None:
    page.goto(f"{stack.url}/ui/login")
    page.fill("#api_key", api_key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/ui/")


def purge_page_images(stack_env: dict[str, str], job_id: str) -> int:
    """Delete a job's page images from the store, as retention would; how many went."""
    with mock.patch.dict(os.environ, stack_env):
        settings = Settings()
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        keys = session.scalars(select(Page.image_key).where(Page.job_id == job_id)).all()
    engine.dispose()
    store = build_store(settings)
    for key in keys:
        store.delete(key)
    return len(keys)


def test_api_docs_render_from_this_server_alone(stack: Stack, browser: Any) -> None:
    stack.start_api()
    page = browser.new_page()
    console = Console(page)
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(stack.url) else elsewhere.append(r.url))
    page.goto(f"{stack.url}/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 20
    assert page.locator(".opblock-summary-path", has_text="/v1/jobs/{job_id}/retry-failed").count()
    page.goto(f"{stack.url}/redoc")
    page.locator("[data-section-id]").first.wait_for()
    assert "Submit an image for OCR" in page.content()
    assert elsewhere == [u for u in elsewhere if u.startswith("blob:")]  # ReDoc's search worker
    assert console.errors == []
    page.close()


def test_a_batch_page_live_with_retry_download_review_and_delete(
    stack: Stack, stack_env: dict[str, str], api_key: str, browser: Any, tmp_path: Path
) -> None:
    context, page, console = start(stack, browser)
    sign_in(stack, page, api_key)
    headers = {"X-API-Key": api_key}
    batch = httpx.post(
        f"{stack.url}/v1/batches",
        headers=headers,
        files=[
            ("files", ("box/good.png", letter_png("To the printer", "six copies"), "image/png")),
            ("files", ("box/bad.png", letter_png("cut")[:200], "image/png")),
        ],
    ).json()
    page.click("nav >> text=Batches")
    page.wait_for_url(f"{stack.url}/ui/batches")
    page.click(f"tr[data-batch-id='{batch['id']}'] a.open")
    page.wait_for_url(f"{stack.url}/ui/batches/{batch['id']}")
    page.evaluate("window.quireMarker = 'same document'")
    # Live: the batch ends partial (the cut PNG fails) without a reload.
    page.locator("#batch-status", has_text="partial").wait_for(timeout=90_000)
    assert page.evaluate("window.quireMarker") == "same document"
    assert page.locator("[data-count='succeeded'] b").inner_text() == "1"
    assert page.locator("[data-count='failed'] b").inner_text() == "1"
    assert page.locator("#batch-eta").inner_text() == "finished"
    assert page.locator("#batch-percent").inner_text() == "100 %"
    paths = page.locator("#items .path").all_inner_texts()
    assert paths == ["box/good.png", "box/bad.png"]
    shots = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(shots / "ui_batch.png"))

    page.click(".actions .act-retry")
    page.locator(".actions .act-state", has_text="queued again").wait_for()
    page.locator("#batch-status", has_text="partial").wait_for(timeout=90_000)

    with page.expect_download() as download:
        page.click("#export")  # PAGE XML and text, with corrections (the defaults)
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert "manifest.json" in names and "box/good.png.txt" in names, names

    # The page images purged: the review queue says so instead of showing broken images.
    good = page.locator("#items tr", has_text="box/good.png").get_attribute("data-job-id")
    assert good and purge_page_images(stack_env, good) == 1
    page.click("text=Review this batch")
    page.wait_for_url(f"{stack.url}/ui/review?batch={batch['id']}")
    missing = page.locator("#queue .crop-missing")
    missing.first.wait_for()
    assert missing.count() == page.locator("#queue .queued").count() >= 1
    assert missing.first.inner_text() == "image no longer stored"
    assert page.locator("#queue img.crop").count() == 0
    # Each purged crop is a 404 the browser reports; those and nothing else.
    assert console.errors and all("404" in e for e in console.errors), console.errors
    console.errors.clear()

    page.goto(f"{stack.url}/ui/batches/{batch['id']}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(".actions .act-delete")
    page.wait_for_url(f"{stack.url}/ui/batches")
    assert page.locator(f"tr[data-batch-id='{batch['id']}']").count() == 0
    assert httpx.get(f"{stack.url}/v1/batches/{batch['id']}", headers=headers).status_code == 404
    assert console.errors == []
    context.close()


def test_cancel_and_delete_from_the_jobs_page(stack: Stack, api_key: str, browser: Any) -> None:
    stack.start_api()  # no workers: the job stays queued until canceled
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    console = Console(page)
    sign_in(stack, page, api_key)
    headers = {"X-API-Key": api_key}
    job = httpx.post(
        f"{stack.url}/v1/jobs",
        headers=headers,
        files={"file": ("waiting.png", letter_png("in the queue"), "image/png")},
    ).json()
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    row.wait_for()  # added live
    assert row.locator(".act-retry").is_hidden() and row.locator(".act-cancel").is_visible()
    row.locator(".act-cancel").click()
    row.locator(".status", has_text="canceled").wait_for()
    assert row.locator(".act-cancel").is_hidden()
    assert httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers=headers).json()["status"] == (
        "canceled"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator(".act-delete").click()
    row.wait_for(state="detached")
    assert httpx.get(f"{stack.url}/v1/jobs/{job['id']}", headers=headers).status_code == 404
    page.reload()
    assert page.locator(f"tr[data-job-id='{job['id']}']").count() == 0
    page.select_option("#status", "canceled")
    page.click(".filters button")
    page.wait_for_url(f"{stack.url}/ui/?status=canceled")
    assert console.errors == []
    context.close()


def test_a_large_file_goes_presigned_to_the_bucket(
    stack: Stack, api_key: str, browser: Any, s3_client: Any, s3_bucket: str, tmp_path: Path
) -> None:
    """With the threshold at 0 every single file is "large": an image and an archive go from
    the browser straight to the bucket (moto, another origin: CSP and CORS both in play),
    become a job and a batch that succeed; a refusal after the parts are sent is shown."""
    stack.env["QUIRE_UI_PRESIGNED_ABOVE_MB"] = "0"
    allow_browser_uploads(s3_client, s3_bucket, stack.url)
    endpoint = stack.env["QUIRE_S3_ENDPOINT_URL"]
    context, page, console = start(stack, browser)
    to_bucket: list[str] = []
    page.on("request", lambda r: r.method == "PUT" and to_bucket.append(r.url))
    sign_in(stack, page, api_key)
    page.goto(f"{stack.url}/ui/upload")
    assert f"connect-src 'self' {endpoint};" in page.evaluate(
        "async () => (await fetch('/ui/upload')).headers.get('content-security-policy')"
    )

    scan = tmp_path / "big-scan.png"
    scan.write_bytes(letter_png("sent in parts"))
    page.set_input_files("#pick-files", str(scan))
    done = page.locator(".upload-row.done")
    done.first.wait_for()
    assert "job" in done.first.inner_text()
    job_id = done.first.get_attribute("data-id")
    assert len(to_bucket) == 1 and to_bucket[0].startswith(f"{endpoint}/{s3_bucket}/")
    headers = {"X-API-Key": api_key}
    assert poll_job(stack.url, api_key, str(job_id), {"succeeded", "failed"})["status"] == (
        "succeeded"
    )

    archive = tmp_path / "box.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("letters/one.png", letter_png("first letter"))
        out.writestr("letters/two.png", letter_png("second letter"))
    page.set_input_files("#pick-files", str(archive))
    page.wait_for_function("() => document.querySelectorAll('.upload-row.done').length === 2")
    row = page.locator(".upload-row.done").first
    assert "batch" in row.inner_text() and len(to_bucket) == 2
    batch_id = row.get_attribute("data-id")

    def batch_finished() -> bool:
        status = httpx.get(f"{stack.url}/v1/batches/{batch_id}", headers=headers).json()
        return str(status["status"]) in ("succeeded", "failed", "partial")

    wait_for(batch_finished, 120, f"batch {batch_id} to finish")
    batch = httpx.get(f"{stack.url}/v1/batches/{batch_id}", headers=headers).json()
    assert batch["status"] == "succeeded" and batch["jobs"]["succeeded"] == 2, batch

    text = tmp_path / "notes.txt"
    text.write_text("not a scan")
    page.set_input_files("#pick-files", str(text))
    failed = page.locator(".upload-row.failed")
    failed.wait_for()
    # Sent to the bucket, then refused by POST /v1/jobs: the API's code and message.
    assert "unsupported_media_type: the file is not a supported type" in failed.inner_text()
    assert len(to_bucket) == 3
    assert len(console.errors) == 1 and "415" in console.errors[0], console.errors
    context.close()
