"""The UI's batch pages and its actions over HTTP: batches newest first and filtered, a
batch's items in archive order with counts, progress and ETA, its live state and its zip;
cancel, retry-failed and delete of jobs and batches through the API's own code, each behind
same origin, the CSRF token and the submit scope; another tenant's batch hidden."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update

from api.app import create_app
from shared.db.models import Job, utcnow
from shared.db.session import transaction
from shared.key_scopes import KeyScope
from shared.settings import Settings
from tests.integration.conftest import auth
from tests.integration.test_corrections import Db

pytestmark = pytest.mark.integration
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def db(settings: Settings) -> Db:
    return Db(settings)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 200), "white").save(out, "PNG")
    return out.getvalue()


def sign_in(browser: TestClient, key: str) -> dict[str, str]:
    """Signed in as ``key``: the headers a UI page's script sends (same origin, CSRF)."""
    answer = browser.post("/ui/login", data={"api_key": key}, headers=SAME_ORIGIN)
    assert answer.status_code == 303, answer.text
    found = re.search(r'data-csrf="([^"]+)"', browser.get("/ui/").text)
    assert found
    return {**SAME_ORIGIN, "X-CSRF-Token": found.group(1)}


def new_batch(browser: TestClient, key: str, *names: str) -> dict[str, Any]:
    files = [
        ("files", (n, png(), "image/png") if n.endswith(".png") else (n, b"text", "text/plain"))
        for n in names
    ]
    answer = browser.post("/v1/batches", headers=auth(key), files=files)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def job_ids(db: Db, batch_id: str) -> dict[str, str]:
    """The batch's jobs by file name."""
    with transaction(db.sessions) as session:
        rows = session.execute(select(Job.filename, Job.id).where(Job.batch_id == batch_id))
        return {name: job_id for name, job_id in rows}


def set_job(db: Db, job_id: str, **values: Any) -> None:
    with transaction(db.sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def test_batches_list_newest_first_and_filter_by_status(
    browser: TestClient, new_key: Callable[..., str]
) -> None:
    key = new_key(f"ui-batches-{uuid.uuid4().hex[:6]}")
    older = new_batch(browser, key, "old.png")
    newer = new_batch(browser, key, "new.png")
    sign_in(browser, key)
    listed = browser.get("/ui/batches")
    assert listed.status_code == 200
    order = re.findall(r'data-batch-id="([^"]+)"', listed.text)
    assert order == [newer["id"], older["id"]]
    assert re.findall(r'href="/ui/batches/([^"]+)"', listed.text) == order
    assert (
        browser.get("/ui/batches", params={"status": "succeeded"}).text.count("data-batch-id=") == 0
    )
    assert len(re.findall("data-batch-id=", browser.get("/ui/batches?status=running").text)) == 2
    assert browser.get("/ui/batches", params={"status": "bogus"}).status_code == 422
    assert 'href="/ui/batches"' in listed.text  # in the nav
    browser.cookies.clear()
    assert browser.get("/ui/batches").headers["location"] == "/ui/login"


def test_a_batch_page_shows_items_in_order_counts_progress_and_eta(
    browser: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    key = new_key(f"ui-batch-{uuid.uuid4().hex[:6]}")
    batch = new_batch(browser, key, "box/b.png", "box/a.png", "notes.txt")
    sign_in(browser, key)
    shown = browser.get(f"/ui/batches/{batch['id']}")
    assert shown.status_code == 200
    assert re.findall(r'class="path">([^<]+)<', shown.text) == [
        "box/b.png",
        "box/a.png",
        "notes.txt",
    ]
    assert '<dd id="batch-eta">—</dd>' in shown.text  # no page has finished yet
    assert f'href="/ui/review?batch={batch["id"]}"' in shown.text
    assert "skipped" in shown.text and "unsupported" in shown.text.lower()
    assert 'data-count="queued"' in shown.text and "style=" not in shown.text
    ticks = re.findall(r'name="format" value="([a-z]+)"', shown.text)
    assert ticks == ["json", "txt", "hocr", "alto", "pagexml", "pdf"]

    jobs = job_ids(db, batch["id"])
    started = utcnow() - timedelta(hours=1)
    db.recognize(jobs["box/b.png"])
    set_job(
        db,
        jobs["box/b.png"],
        status="succeeded",
        pages_total=1,
        pages_done=1,
        started_at=started,
        finished_at=utcnow(),
    )
    set_job(db, jobs["box/a.png"], status="running", pages_total=2, started_at=started)
    state = browser.get(f"/ui/batches/{batch['id']}/state").json()
    assert state["status"] == "running"
    assert state["counts"] == {**state["counts"], "succeeded": 1, "running": 1, "skipped": 1}
    # one of three pages done in an hour: two more take about two hours
    assert state["eta"] == "about 2 h 0 min" and state["pages"] == "1 / 3"
    assert state["percent"] == 33 and not state["has_failed"]
    assert [i["path"] for i in state["items"]] == ["box/b.png", "box/a.png", "notes.txt"]
    page = browser.get(f"/ui/batches/{batch['id']}")
    assert f'href="/ui/jobs/{jobs["box/b.png"]}/pages/0"' in page.text
    assert f'href="/ui/jobs/{jobs["box/a.png"]}/pages/0"' not in page.text  # nothing to see yet

    browser.post("/ui/login", data={"api_key": new_key("ui-batch-other")}, headers=SAME_ORIGIN)
    assert browser.get(f"/ui/batches/{batch['id']}").status_code == 404
    assert browser.get(f"/ui/batches/{batch['id']}/state").status_code == 404
    assert browser.get(f"/ui/batches/{batch['id']}/export").status_code == 404


def test_the_batch_zip_has_corrections_or_the_recognized_text(
    browser: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    key = new_key(f"ui-zip-{uuid.uuid4().hex[:6]}")
    batch = new_batch(browser, key, "letter.png")
    [job_id] = job_ids(db, batch["id"]).values()
    db.recognize(job_id)
    set_job(db, job_id, status="succeeded", pages_total=1, pages_done=1)
    headers = sign_in(browser, key)
    fixed = browser.post(
        f"/ui/jobs/{job_id}/pages/0/lines/1",
        json={"text": "I received your letter"},
        headers=headers,
    )
    assert fixed.status_code == 200, fixed.text
    url = f"/ui/batches/{batch['id']}/export"
    corrected = browser.get(url, params=[("format", "txt"), ("format", "pagexml")])
    assert corrected.status_code == 200 and corrected.headers["content-type"] == "application/zip"
    disposition = f'attachment; filename="batch-{batch["id"]}.zip"'
    assert corrected.headers["content-disposition"] == disposition
    archive = zipfile.ZipFile(io.BytesIO(corrected.content))
    assert {"manifest.json", "letter.png.txt"} <= set(archive.namelist())
    assert any(name.endswith(".xml") for name in archive.namelist())
    assert "I received your letter" in archive.read("letter.png.txt").decode()
    as_read = browser.get(url, params={"format": "txt", "recognized": "true"})
    text = zipfile.ZipFile(io.BytesIO(as_read.content)).read("letter.png.txt").decode()
    assert "I recieved your leter" in text
    assert browser.get(url, params={"format": "doc"}).status_code == 422


def test_batch_actions_go_through_the_apis_code(
    browser: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    tenant = f"ui-act-{uuid.uuid4().hex[:6]}"
    key = new_key(tenant)
    batch = new_batch(browser, key, "a.png", "b.png")
    jobs = job_ids(db, batch["id"])
    headers = sign_in(browser, key)
    url = f"/ui/batches/{batch['id']}"
    assert browser.post(f"{url}/cancel", headers=SAME_ORIGIN).status_code == 403  # no token
    cross = {**headers, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    assert browser.post(f"{url}/cancel", headers=cross).status_code == 403
    assert browser.post(f"{url}/explode", headers=headers).status_code == 422

    set_job(db, jobs["a.png"], status="failed", error_code="corrupt_image", finished_at=utcnow())
    assert 'class="actions status-running has-failed"' in browser.get(url).text
    retried = browser.post(f"{url}/retry-failed", headers=headers)
    assert retried.status_code == 200 and retried.json() == {"jobs_retried": 1}
    job = browser.get(f"/v1/jobs/{jobs['a.png']}", headers=auth(key)).json()
    assert job["status"] == "queued" and job["error"] is None

    canceled = browser.post(f"{url}/cancel", headers=headers)
    assert canceled.status_code == 200 and canceled.json() == {"status": "canceled"}
    assert browser.post(f"{url}/cancel", headers=headers).json() == {"status": "canceled"}
    again = browser.post(f"{url}/retry-failed", headers=headers)
    assert again.status_code == 409 and "canceled" in again.json()["detail"]

    reader = new_key(tenant, scopes=[KeyScope.READ])
    read_headers = sign_in(browser, reader)
    refused = browser.post(f"{url}/delete", headers=read_headers)
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
    headers = sign_in(browser, key)
    deleted = browser.post(f"{url}/delete", headers=headers)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    assert browser.get(f"/v1/batches/{batch['id']}", headers=auth(key)).status_code == 404
    assert browser.get(url).status_code == 404


def test_job_actions_from_the_jobs_page(
    browser: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    key = new_key(f"ui-jobact-{uuid.uuid4().hex[:6]}")
    submitted = [
        browser.post(
            "/v1/jobs", headers=auth(key), files={"file": (f"{n}.png", png(), "image/png")}
        ).json()["id"]
        for n in ("one", "two")
    ]
    one, two = submitted
    headers = sign_in(browser, key)
    listing = browser.get("/ui/").text
    row = re.search(rf'<tr class="job status-queued" data-job-id="{one}">(.*?)</tr>', listing, re.S)
    assert row and 'data-action="cancel"' in row.group(1) and 'data-action="delete"' in row.group(1)
    assert 'class="actions status-queued"' in row.group(1)
    assert browser.post(f"/ui/jobs/{one}/cancel", headers=SAME_ORIGIN).status_code == 403

    canceled = browser.post(f"/ui/jobs/{one}/cancel", headers=headers)
    assert canceled.status_code == 200 and canceled.json() == {"status": "canceled"}
    nothing = browser.post(f"/ui/jobs/{one}/retry-failed", headers=headers)
    assert nothing.status_code == 409 and nothing.json()["code"] == "conflict"

    set_job(db, two, status="failed", error_code="corrupt_image", finished_at=utcnow())
    finished = browser.post(f"/ui/jobs/{two}/cancel", headers=headers)
    assert finished.status_code == 409 and finished.json()["code"] == "job_finished"
    retried = browser.post(f"/ui/jobs/{two}/retry-failed", headers=headers)
    assert retried.status_code == 200 and retried.json() == {"status": "queued"}

    deleted = browser.post(f"/ui/jobs/{one}/delete", headers=headers)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    assert browser.get(f"/v1/jobs/{one}", headers=auth(key)).status_code == 404
    assert f'data-job-id="{one}"' not in browser.get("/ui/").text

    sign_in(browser, new_key("ui-jobact-other"))
    other = browser.post(f"/ui/jobs/{two}/delete", headers=sign_in(browser, new_key("x-other")))
    assert other.status_code == 404
    assert browser.get(f"/v1/jobs/{two}", headers=auth(key)).status_code == 200


def test_v1_retry_failed_of_one_job(
    browser: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    key = new_key(f"retry-job-{uuid.uuid4().hex[:6]}")
    job_id = browser.post(
        "/v1/jobs", headers=auth(key), files={"file": ("x.png", png(), "image/png")}
    ).json()["id"]
    url = f"/v1/jobs/{job_id}/retry-failed"
    assert browser.post(url, headers=auth(key)).status_code == 409  # queued: nothing failed
    set_job(db, job_id, status="partial", pages_total=2, pages_done=1, pages_failed=1)
    answer = browser.post(url, headers=auth(key))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "running" and answer.json()["pages_failed"] == 0
    assert browser.post(url, headers=auth(new_key("retry-other"))).status_code == 404
