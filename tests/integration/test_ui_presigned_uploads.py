"""The UI's presigned uploads over HTTP, on the local store (part URLs to the API itself) and
on a real S3 API (moto): start, PUT the parts, complete, then a job or a batch from the
upload's id; each step behind same origin, the session, its CSRF token and the submit
scope, each refusal the API's own code and message. Also ``POST /v1/jobs`` with JSON
``upload_id``, the CSP's ``connect-src`` and the bucket's CORS rule."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from shared.db.models import Job, Upload
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.key_scopes import KeyScope
from shared.settings import Settings
from shared.storage.s3 import allow_browser_uploads, s3_client
from tests.batch_inputs import png_bytes, zip_of
from tests.integration.conftest import auth
from ui.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.integration
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
MIB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    sqlite_database_url: str,
    redis_url: str,
) -> Settings:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        env = request.getfixturevalue("s3_env")
        extra = {k.removeprefix("QUIRE_").lower(): v for k, v in env.items()}
    return make_settings(
        database_url=sqlite_database_url,
        redis_url=redis_url,
        upload_part_mb=5,
        ui_presigned_above_mb=3,
        **extra,
    )


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


def sign_in(browser: TestClient, key: str) -> dict[str, str]:
    """The headers the upload page's script sends: same origin and the session's CSRF."""
    answer = browser.post("/ui/login", data={"api_key": key}, headers=SAME_ORIGIN)
    assert answer.status_code == 303, answer.text
    page = browser.get("/ui/upload").text
    found = re.search(r'data-csrf="([^"]+)"', page)
    assert found
    return {**SAME_ORIGIN, "X-CSRF-Token": found.group(1)}


def announce(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"filename": name, "size_bytes": len(data), "content_type": mime}


def put_part(browser: TestClient, part: dict[str, Any], body: bytes) -> str:
    """PUT a part where the page would: a path on the UI's own origin, or the S3 server."""
    if part["url"].startswith("/"):
        answer = browser.put(part["url"], content=body, headers=part["headers"])
    else:
        answer = httpx.put(part["url"], content=body, headers=part["headers"])
    assert answer.status_code == 200, answer.text
    return answer.headers["ETag"]


def send(browser: TestClient, headers: dict[str, str], name: str, data: bytes, mime: str) -> str:
    """Start, PUT every part and complete, as the page does; the upload's id."""
    started = browser.post("/ui/uploads", headers=headers, json=announce(name, data, mime))
    assert started.status_code == 201, started.text
    upload = started.json()
    parts = []
    for part in upload["parts"]:
        offset = (part["number"] - 1) * upload["part_size"]
        etag = put_part(browser, part, data[offset : offset + part["size"]])
        parts.append({"number": part["number"], "etag": etag})
    done = browser.post(
        f"/ui/uploads/{upload['id']}/complete", headers=headers, json={"parts": parts}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    return str(upload["id"])


def test_an_image_goes_presigned_and_becomes_a_job(
    browser: TestClient, settings: Settings, new_key: Callable[..., str]
) -> None:
    headers = sign_in(browser, new_key("ui-presigned-job"))
    page = browser.get("/ui/upload").text
    assert f'data-presigned-above="{3 * MIB}"' in page
    data = png_bytes("a large scan")
    upload_id = send(browser, headers, "scans/big.png", data, "image/png")

    answer = browser.post("/ui/upload/job", headers=headers, json={"upload_id": upload_id})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["kind"] == "job" and body["status"] == "queued"
    sessions = build_sessionmaker(build_engine(settings.effective_database_url))
    with transaction(sessions) as session:
        job = session.get(Job, body["id"])
        upload = session.get(Upload, upload_id)
        assert job is not None and upload is not None
        # The uploaded object is the job's source, as it is: nothing was copied.
        assert job.source_key == upload.key and job.media_type == "image/png"
        assert job.filename == "scans/big.png" and job.size_bytes == len(data)
        assert job.pages_total == 1  # a one-page image: its OCR task was sent at once


def test_an_archive_goes_presigned_in_parts_and_becomes_a_batch(
    browser: TestClient, new_key: Callable[..., str]
) -> None:
    headers = sign_in(browser, new_key("ui-presigned-batch"))
    data = zip_of({"a.png": png_bytes("a"), "pad.bin": os.urandom(6 * MIB)})
    started = browser.post("/ui/uploads", headers=headers, json=announce("box.zip", data, "a/b"))
    assert started.status_code == 201, started.text
    assert len(started.json()["parts"]) == 2  # multipart: parts of 5 MiB

    upload_id = send(browser, headers, "box.zip", data, "application/zip")
    answer = browser.post("/ui/upload/batch", headers=headers, json={"upload_id": upload_id})
    assert answer.status_code == 202, answer.text
    assert answer.json()["kind"] == "batch" and answer.json()["status"] == "ingesting"


def test_each_step_answers_the_api_refusal(
    browser: TestClient, new_key: Callable[..., str]
) -> None:
    key = new_key("ui-presigned-refusals")
    headers = sign_in(browser, key)
    too_large = browser.post(
        "/ui/uploads",
        headers=headers,
        json={"filename": "x.zip", "size_bytes": 101 * 1024**3, "content_type": "a/b"},
    )
    assert too_large.status_code == 413 and too_large.json()["code"] == "payload_too_large"
    bad = browser.post("/ui/uploads", headers=headers, json={"filename": ""})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"

    data = zip_of({"a.png": png_bytes("a")})
    started = browser.post("/ui/uploads", headers=headers, json=announce("a.zip", data, "a/b"))
    upload_id = started.json()["id"]
    early = browser.post("/ui/upload/batch", headers=headers, json={"upload_id": upload_id})
    assert early.status_code == 409 and early.json()["code"] == "upload_incomplete"
    missing = browser.post(
        f"/ui/uploads/{upload_id}/complete",
        headers=headers,
        json={"parts": [{"number": 1, "etag": '"nothing-sent"'}]},
    )
    assert missing.status_code == 409 and missing.json()["code"] == "upload_incomplete"
    assert missing.json()["detail"]

    upload_id = send(browser, headers, "a.zip", data, "application/zip")
    as_job = browser.post("/ui/upload/job", headers=headers, json={"upload_id": upload_id})
    assert as_job.status_code == 415 and as_job.json()["code"] == "unsupported_media_type"
    unknown = browser.post("/ui/upload/job", headers=headers, json={"upload_id": "nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"


@pytest.mark.parametrize("path", ["/ui/uploads", "/ui/uploads/someid/complete"])
def test_refused_cross_site_signed_out_without_csrf_or_scope(
    browser: TestClient, new_key: Callable[..., str], path: str
) -> None:
    body = {"filename": "a.png", "size_bytes": 10, "content_type": "image/png"}
    signed_out = browser.post(path, headers=SAME_ORIGIN, json=body)
    assert signed_out.status_code == 401 and signed_out.json()["code"] == "unauthorized"

    headers = sign_in(browser, new_key("ui-presigned-checks"))
    cross = browser.post(
        path, headers={**headers, "Sec-Fetch-Site": "cross-site", "Origin": "http://evil"}
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    other_origin = browser.post(path, headers={**headers, "Origin": "http://evil"}, json=body)
    assert other_origin.status_code == 403, other_origin.text
    no_csrf = {k: v for k, v in headers.items() if k != "X-CSRF-Token"}
    assert browser.post(path, headers=no_csrf, json=body).status_code == 403
    wrong = browser.post(path, headers={**headers, "X-CSRF-Token": "guess"}, json=body)
    assert wrong.status_code == 403 and "CSRF" in wrong.json()["detail"]

    browser.cookies.clear()
    reader = sign_in(browser, new_key("ui-presigned-reader", scopes=[KeyScope.READ]))
    read_only = browser.post(path, headers=reader, json=body)
    assert read_only.status_code == 403 and read_only.json()["code"] == "missing_scope"


def test_v1_jobs_takes_an_upload_id(client: TestClient, new_key: Callable[..., str]) -> None:
    key = new_key("api-upload-job")
    data = png_bytes("sent presigned")
    started = client.post(
        "/v1/uploads", headers=auth(key), json=announce("p.png", data, "image/png")
    )
    upload = started.json()
    part = upload["parts"][0]
    if part["url"].startswith("http://127.0.0.1:8000/"):
        pending = client.post("/v1/jobs", headers=auth(key), json={"upload_id": upload["id"]})
        assert pending.status_code == 409 and pending.json()["code"] == "upload_incomplete"
        put = client.put(part["url"], content=data, headers=part["headers"])
    else:
        put = httpx.put(part["url"], content=data, headers=part["headers"])
    assert put.status_code == 200, put.text
    parts = [{"number": 1, "etag": put.headers["ETag"]}]
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete", headers=auth(key), json={"parts": parts}
    )
    assert done.status_code == 200, done.text

    request = {"upload_id": upload["id"], "priority": "bulk", "metadata": {"box": 3}}
    replay = {**auth(key), "Idempotency-Key": f"upload-job-{upload['id']}"}
    job = client.post("/v1/jobs", headers=replay, json=request)
    assert job.status_code == 202, job.text
    assert job.json()["priority"] == "bulk" and job.json()["metadata"] == {"box": 3}
    again = client.post("/v1/jobs", headers=replay, json=request)
    assert again.json()["id"] == job.json()["id"]
    other = new_key("api-upload-job-other")
    foreign = client.post("/v1/jobs", headers=auth(other), json={"upload_id": upload["id"]})
    assert foreign.status_code == 404
    invalid = client.post("/v1/jobs", headers=auth(key), json={"upload_id": 5})
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request"


def test_the_csp_lets_pages_reach_the_presigned_origin(
    browser: TestClient, settings: Settings
) -> None:
    policy = browser.get("/ui/login").headers["content-security-policy"]
    if settings.store_backend == "local":
        assert policy == CONTENT_SECURITY_POLICY  # parts go to the UI's own origin
        return
    endpoint = urlsplit(str(settings.s3_endpoint_url))
    assert f"connect-src 'self' {endpoint.scheme}://{endpoint.netloc};" in policy


def test_the_bucket_cors_rule_answers_a_browser_preflight(settings: Settings) -> None:
    if settings.store_backend == "local":
        pytest.skip("the local store's part route is the UI's own origin: no CORS")
    client = s3_client(settings)
    allow_browser_uploads(client, settings.s3_bucket, "http://ui.example:8000/some/path")
    rules = client.get_bucket_cors(Bucket=settings.s3_bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["http://ui.example:8000"]
    assert rules[0]["ExposeHeaders"] == ["ETag"] and rules[0]["AllowedMethods"] == ["PUT"]
    url = client.generate_presigned_url(
        "put_object", {"Bucket": settings.s3_bucket, "Key": "k", "ContentType": "image/png"}, 60
    )
    preflight = httpx.request(
        "OPTIONS",
        url,
        headers={
            "Origin": "http://ui.example:8000",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "http://ui.example:8000"
    assert preflight.headers["access-control-expose-headers"] == "ETag"
