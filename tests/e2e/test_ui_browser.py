"""The web UI in a real browser (Debian's chromium driven by Playwright) against the API and
workers as real processes: sign in, the jobs page updating, a cross-site form refused, and no
console errors or CSP violations on any page."""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.conftest import service_missing
from tests.e2e.conftest import REPO, Stack, free_port, poll_job

pytestmark = pytest.mark.e2e
CHROMIUM = os.environ.get("QUIRE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "img"


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
    page.locator("#threshold").fill("1")
    assert page.locator("#low-count").inner_text() == f"{lines.count()} low"
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
    page.goto(f"{stack.url}/ui/")

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
