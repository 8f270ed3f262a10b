"""The API in-process against real PostgreSQL/SQLite and Redis: submit, poll, isolate."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from shared.db.models import Job
from shared.db.session import build_engine, build_sessionmaker
from shared.settings import Settings
from tests.batch_inputs import jpeg_bytes, pdf_bytes, tiff_bytes
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, "PNG")
    return out.getvalue()


def queued_messages(redis_client: redis.Redis, queue: str) -> list[dict]:
    """Celery messages waiting in a queue (kombu keeps priorities in sub-lists)."""
    keys = [queue.encode()] + [f"{queue}\x06\x16{p}".encode() for p in range(1, 10)]
    raw = [m for key in keys for m in redis_client.lrange(key, 0, -1)]
    return [json.loads(m) for m in raw]


def sent_messages(redis_client: redis.Redis) -> list[dict]:
    """Celery messages waiting in the CPU and GPU queues."""
    return queued_messages(redis_client, "cpu") + queued_messages(redis_client, "gpu")


def job_count(settings: Settings) -> int:
    engine = build_engine(settings.effective_database_url)
    with build_sessionmaker(engine)() as session:
        count = session.scalar(select(func.count()).select_from(Job))
    engine.dispose()
    return int(count or 0)


def test_submit_stores_records_and_enqueues(
    client: TestClient,
    new_key: Callable[[str], str],
    redis_client: redis.Redis,
    settings: Settings,
) -> None:
    key = new_key(f"t-{uuid.uuid4().hex[:6]}")
    response = client.post(
        "/v1/jobs",
        headers=auth(key),
        files={"file": ("scan.bin", png(), "application/octet-stream")},
        data={"metadata": json.dumps({"shelf": "A3"}), "priority": "bulk"},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert response.headers["retry-after"] == "2"
    assert job["status"] == "queued"
    assert job["media_type"] == "image/png"  # from magic bytes, not the .bin name
    assert job["metadata"] == {"shelf": "A3"}
    assert job["priority"] == "bulk"
    # A one-page image skips the split step: its page exists and its OCR task is sent.
    assert queued_messages(redis_client, "cpu") == []
    messages = queued_messages(redis_client, "gpu")
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "quire.ocr_page"
    assert messages[0]["headers"]["kwargsrepr"] == repr(
        {"v": 1, "job_id": job["id"], "page_index": 0}
    )
    assert job["pages_total"] == 1
    stored = list((settings.effective_store_dir / "tenants").rglob("source.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == png()

    polled = client.get(f"/v1/jobs/{job['id']}", headers=auth(key))
    assert polled.status_code == 200
    assert polled.json()["id"] == job["id"]
    assert polled.headers["retry-after"] == "2"
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(key))
    assert result.status_code == 200
    assert result.json()["status"] == "queued"
    assert result.json()["text"] == ""
    assert [(p["index"], p["status"]) for p in result.json()["pages"]] == [(0, "queued")]


def test_x_api_key_header_is_accepted(client: TestClient, new_key: Callable[[str], str]) -> None:
    key = new_key("xkey")
    response = client.post(
        "/v1/jobs", headers={"X-API-Key": key}, files={"file": ("a.png", png(), "image/png")}
    )
    assert response.status_code == 202


def test_tenant_isolation(client: TestClient, new_key: Callable[[str], str]) -> None:
    alice, bob = new_key("alice"), new_key("bob")
    job_id = client.post(
        "/v1/jobs", headers=auth(alice), files={"file": ("a.png", png(), "image/png")}
    ).json()["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/result"):
        assert client.get(path, headers=auth(alice)).status_code == 200
        other = client.get(path, headers=auth(bob))
        assert other.status_code == 404  # not 403: bob must not learn the job exists
        assert other.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer qk_not-a-real-key"},
        {"X-API-Key": "nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "bad-bearer", "bad-x-api-key", "wrong-scheme"],
)
def test_bad_or_missing_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(f"/v1/jobs/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"


def test_unknown_job_is_404_problem(client: TestClient, new_key: Callable[[str], str]) -> None:
    response = client.get(f"/v1/jobs/{uuid.uuid4()}", headers=auth(new_key("u")))
    assert response.status_code == 404
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail", "code"} <= body.keys()


def _bomb_png() -> bytes:
    # 20000 x 20000 = 400 Mpx of one colour compresses to a tiny file.
    out = io.BytesIO()
    Image.new("1", (20000, 20000), 0).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"just some text, not an image", 415, "unsupported_media_type"),
        (b"PK\x03\x04" + b"\x00" * 100, 415, "unsupported_media_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 422, "corrupt_image"),
        (None, 422, "image_too_large"),
    ],
    ids=["empty", "text", "zip", "corrupt-png-header", "decompression-bomb"],
)
def test_bad_uploads_are_refused_and_leave_nothing(
    client: TestClient,
    new_key: Callable[[str], str],
    settings: Settings,
    redis_client: redis.Redis,
    content: bytes | None,
    status: int,
    code: str,
) -> None:
    before = job_count(settings)
    body = _bomb_png() if content is None else content
    response = client.post(
        "/v1/jobs", headers=auth(new_key("bad")), files={"file": ("x.png", body, "image/png")}
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert job_count(settings) == before
    assert queued_messages(redis_client, "cpu") == []
    assert queued_messages(redis_client, "gpu") == []
    assert not list(settings.effective_store_dir.rglob("source.*"))


def test_oversized_upload_is_413(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    new_key: Callable[[str], str],
) -> None:
    small = make_settings(database_url=database_url, redis_url=redis_url, max_upload_mb=1)
    from api.app import create_app

    with TestClient(create_app(small)) as client:
        big = png() + b"\x00" * (1024 * 1024 + 10)
        response = client.post(
            "/v1/jobs", headers=auth(new_key("big")), files={"file": ("big.png", big, "image/png")}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not list(small.effective_store_dir.rglob("source.*"))


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"metadata": "[1, 2]"}, "JSON object"),
        ({"metadata": "{not json"}, "not valid JSON"),
        ({"priority": "urgent"}, "priority"),
        ({"callback_url": "ftp://example.org/x"}, "callback_url"),
        ({"colour": "blue"}, "unknown form fields"),
    ],
)
def test_bad_form_fields_are_422(
    client: TestClient,
    new_key: Callable[[str], str],
    data: dict[str, str],
    detail: str,
) -> None:
    response = client.post(
        "/v1/jobs",
        headers=auth(new_key("f")),
        data=data,
        files={"file": ("a.png", png(), "image/png")},
    )
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_missing_file_part_and_non_multipart(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    key = new_key("m")
    no_file = client.post(
        "/v1/jobs",
        headers=auth(key),
        data={"priority": "bulk"},
        files={"other": ("x", b"1", "text/plain")},
    )
    assert no_file.status_code == 422
    raw = client.post("/v1/jobs", headers={**auth(key), "Content-Type": "image/png"}, content=png())
    assert raw.status_code == 415
    assert "multipart/form-data" in raw.json()["detail"]


def test_result_format_txt_and_unknown(client: TestClient, new_key: Callable[[str], str]) -> None:
    key = new_key("fmt")
    job_id = client.post(
        "/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")}
    ).json()["id"]
    txt = client.get(f"/v1/jobs/{job_id}/result?format=txt", headers=auth(key))
    assert txt.status_code == 200
    assert txt.headers["content-type"].startswith("text/plain")
    bad = client.get(f"/v1/jobs/{job_id}/result?format=docx", headers=auth(key))
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_request"


def test_health_ready_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "store": "ok"}
    schema = client.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result"} <= schema["paths"].keys()
    assert client.get("/docs").status_code == 200


def _animated_gif() -> bytes:
    frames = [Image.new("L", (40, 20), level) for level in (0, 128, 255)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "queue", "task", "pages_total"),
    [
        ("page.jpg", lambda: jpeg_bytes("one page"), "gpu", "quire.ocr_page", 1),
        ("one.tif", lambda: tiff_bytes(["one frame"]), "cpu", "quire.prepare_job", 0),
        ("two.tif", lambda: tiff_bytes(["a", "b"]), "cpu", "quire.prepare_job", 0),
        ("doc.pdf", lambda: pdf_bytes(["a"]), "cpu", "quire.prepare_job", 0),
        ("moving.gif", _animated_gif, "cpu", "quire.prepare_job", 0),  # refused by the split
    ],
)
def test_only_a_plain_one_frame_image_skips_the_split_step(
    client: TestClient,
    new_key: Callable[[str], str],
    redis_client: redis.Redis,
    name: str,
    make: Callable[[], bytes],
    queue: str,
    task: str,
    pages_total: int,
) -> None:
    response = client.post(
        "/v1/jobs", headers=auth(new_key("first-task")), files={"file": (name, make())}
    )
    assert response.status_code == 202, response.text
    assert response.json()["pages_total"] == pages_total
    other = {"gpu": "cpu", "cpu": "gpu"}[queue]
    assert queued_messages(redis_client, other) == []
    sent = queued_messages(redis_client, queue)
    assert [m["headers"]["task"] for m in sent] == [task]
