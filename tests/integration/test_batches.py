"""Batches through the API in-process and the worker steps, on real databases and Redis:
archive ingest, items, progress, export in every format, retry-failed, multi-file batches."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable

import pikepdf
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from shared.db.models import Batch, Job, Page, PageStatus, WebhookDelivery
from shared.db.session import transaction
from shared.settings import Settings
from tests.batch_inputs import mixed_tree, png_bytes, rar_of, seven_z_of, tar_gz_of, zip_of
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import queued_messages
from worker.context import WorkerContext
from worker.ingest import ingest_batch
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job

pytestmark = pytest.mark.integration
ZIP = "application/zip"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        redis_url=redis_url,
        webhook_allow_http=True,
        webhook_allow_loopback=True,
    )


def process(ctx: WorkerContext, batch_id: str) -> None:
    """What the CPU and GPU workers would do, in order, in this process."""
    for _ in range(100):
        ingest_batch(ctx, batch_id)
        with transaction(ctx.sessions) as session:
            if session.get(Batch, batch_id).ingested_at is not None:  # type: ignore[union-attr]
                break
    with transaction(ctx.sessions) as session:
        job_ids = session.scalars(select(Job.id).where(Job.batch_id == batch_id)).all()
    for job_id in job_ids:
        prepare_job(ctx, job_id)
    with transaction(ctx.sessions) as session:
        pages = session.execute(
            select(Page.job_id, Page.index).where(
                Page.job_id.in_(job_ids), Page.status == PageStatus.QUEUED.value
            )
        ).all()
    for job_id, index in pages:
        ocr_page(ctx, job_id, index)


def submit_archive(client: TestClient, key: str, data: bytes, name: str, **fields: str) -> dict:
    answer = client.post(
        "/v1/batches", headers=auth(key), files={"file": (name, data, ZIP)}, data=fields
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/v1/batches/{answer.json()['id']}"
    return answer.json()


def all_items(client: TestClient, key: str, batch_id: str, limit: int = 2) -> list[dict]:
    items, cursor = [], None
    for _ in range(100):
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"/v1/batches/{batch_id}/items", headers=auth(key), params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    "packer,name",
    [
        (zip_of, "scans.zip"),
        (tar_gz_of, "scans.tar.gz"),
        (seven_z_of, "scans.7z"),
        (rar_of, "scans.rar"),
    ],
)
def test_archive_batch_end_to_end_in_process(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    redis_client: redis.Redis,
    packer: Callable[[dict[str, bytes]], bytes],
    name: str,
) -> None:
    key = new_key("batcher")
    tree = mixed_tree()
    members = {**tree, "notes/readme.txt": b"not a scan", "../evil.png": png_bytes("x")}
    batch = submit_archive(
        client, key, packer(members), name, callback_url="http://127.0.0.1:9/hook"
    )
    assert batch["status"] == "ingesting" and batch["priority"] == "bulk"
    sent = queued_messages(redis_client, "cpu")
    assert [m["headers"]["task"] for m in sent] == ["quire.ingest_batch"]

    process(ctx, batch["id"])

    status = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert status["status"] == "succeeded", status
    assert status["items_total"] == 7 and status["items_skipped"] == 2
    assert status["jobs"]["succeeded"] == 5
    assert status["pages_total"] == 7 and status["pages_done"] == 7
    assert status["progress"] == 1.0

    items = all_items(client, key, batch["id"])
    by_path = {item["path"]: item for item in items}
    assert set(tree) <= set(by_path)
    assert by_path["notes/readme.txt"]["error"]["code"] == "unsupported_type"
    skipped = [i for i in items if i["status"] == "skipped"]
    assert {i["error"]["code"] for i in skipped} == {"unsupported_type", "unsafe_path"}
    assert by_path["box2/pdf/a/three.pdf"]["pages_total"] == 2
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)

    with transaction(ctx.sessions) as session:
        events = session.scalars(
            select(WebhookDelivery.event_type).where(WebhookDelivery.batch_id == batch["id"])
        ).all()
    assert events.count("batch.completed") == 1


def test_export_has_every_format_for_every_page(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("exporter")
    tree = mixed_tree()
    batch = submit_archive(client, key, zip_of(tree), "scans.zip")
    process(ctx, batch["id"])
    answer = client.get(
        f"/v1/batches/{batch['id']}/export", headers=auth(key), params={"format": "all"}
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == ZIP
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = set(archive.namelist())
    for path in tree:
        for suffix in (".json", ".txt", ".hocr.html", ".alto.xml", ".pdf"):
            assert path + suffix in names, (path, suffix)
        with pikepdf.open(io.BytesIO(archive.read(path + ".pdf"))) as searchable:
            pages = json.loads(archive.read(path + ".json"))["pages"]
            assert len(searchable.pages) == len(pages), path
    assert "box2/pdf/a/three.pdf.p0001.page.xml" in names
    assert "box2/pdf/a/three.pdf.p0002.page.xml" in names
    assert "top.png.page.xml" in names
    result = json.loads(archive.read("box2/tiff/b/five.tif.json"))
    assert [p["status"] for p in result["pages"]] == ["succeeded", "succeeded"]
    for name in names - {"manifest.json"}:
        if name.endswith(".xml") or name.endswith(".html"):
            ET.fromstring(archive.read(name))  # well-formed
    manifest = json.loads(archive.read("manifest.json"))
    assert {i["path"] for i in manifest["items"]} == set(tree)
    assert not [i for i in manifest["items"] if "pdf_error" in i]


def test_export_notes_an_item_that_cannot_be_made_a_pdf(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("pdf-exporter")
    broken = png_bytes("ok")[:200]  # a PNG header with its pixels cut off
    batch = submit_archive(
        client, key, zip_of({"good.png": png_bytes("fine"), "bad.png": broken}), "b.zip"
    )
    process(ctx, batch["id"])
    answer = client.get(
        f"/v1/batches/{batch['id']}/export", headers=auth(key), params={"format": "pdf,txt"}
    )
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert set(archive.namelist()) == {
        "good.png.txt",
        "good.png.pdf",
        "bad.png.txt",
        "manifest.json",
    }
    assert archive.read("good.png.pdf").startswith(b"%PDF-")
    items = {i["path"]: i for i in json.loads(archive.read("manifest.json"))["items"]}
    assert "pdf_error" not in items["good.png"]
    assert items["bad.png"]["pdf_error"]["code"] == "corrupt_image"


def test_retry_failed_reruns_only_failed_jobs(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("retrier")
    broken = png_bytes("ok")[:200]  # a PNG header with its pixels cut off
    batch = submit_archive(
        client, key, zip_of({"good.png": png_bytes("fine"), "bad.png": broken}), "b.zip"
    )
    process(ctx, batch["id"])
    status = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert status["status"] == "partial"
    assert status["jobs"] == {**status["jobs"], "succeeded": 1, "failed": 1}
    failed = client.get(
        f"/v1/batches/{batch['id']}/items", headers=auth(key), params={"status": "failed"}
    ).json()["items"]
    assert [i["path"] for i in failed] == ["bad.png"]
    assert failed[0]["error"]["code"] == "corrupt_image"

    answer = client.post(f"/v1/batches/{batch['id']}/retry-failed", headers=auth(key))
    assert answer.status_code == 202 and answer.json()["jobs_retried"] == 1
    again = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert again["status"] == "running" and again["jobs"]["succeeded"] == 1
    process(ctx, batch["id"])
    final = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert final["status"] == "partial" and final["jobs"]["failed"] == 1


def test_several_files_in_one_request(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("files")
    files = [
        ("files", ("a.png", png_bytes("alpha"), "image/png")),
        ("files", ("b.png", png_bytes("beta"), "image/png")),
        ("files", ("c.txt", b"plain text", "text/plain")),
    ]
    answer = client.post("/v1/batches", headers=auth(key), files=files)
    assert answer.status_code == 202, answer.text
    batch = answer.json()
    assert batch["status"] == "running" and batch["items_total"] == 3
    assert batch["items_skipped"] == 1 and batch["jobs"]["queued"] == 2
    process(ctx, batch["id"])
    final = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert final["status"] == "succeeded" and final["pages_done"] == 2


@pytest.mark.parametrize(
    "files,status,code",
    [
        ({"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")}, 415, None),
        ({"file": ("x.zip", b"not an archive at all", ZIP)}, 415, "unsupported_media_type"),
        ({"files": ("x.txt", b"text only", "text/plain")}, 422, "invalid_request"),
    ],
)
def test_bad_batch_requests(
    client: TestClient,
    new_key: Callable[[str], str],
    files: dict,
    status: int,
    code: str | None,
) -> None:
    answer = client.post("/v1/batches", headers=auth(new_key("bad")), files=files)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["code"] == code


def test_corrupt_archive_fails_the_batch(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext
) -> None:
    key = new_key("corrupt")
    data = zip_of({"a.png": png_bytes("a")})
    broken = data[:30] + b"\x00" * 10  # a zip signature, then nothing readable
    batch = submit_archive(client, key, broken, "broken.zip")
    process(ctx, batch["id"])
    final = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert final["status"] == "failed"
    assert final["error"]["code"] == "corrupt_archive"


def test_batches_are_private_to_their_tenant(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    batch = submit_archive(client, new_key("owner"), zip_of({"a.png": png_bytes("a")}), "a.zip")
    other = auth(new_key("intruder"))
    for method, path in [
        ("GET", f"/v1/batches/{batch['id']}"),
        ("GET", f"/v1/batches/{batch['id']}/items"),
        ("GET", f"/v1/batches/{batch['id']}/export"),
        ("POST", f"/v1/batches/{batch['id']}/retry-failed"),
    ]:
        answer = client.request(method, path, headers=other)
        assert answer.status_code == 404, (method, path, answer.text)


def test_items_cursor_must_be_ours(client: TestClient, new_key: Callable[[str], str]) -> None:
    key = new_key("cursor")
    batch = submit_archive(client, key, zip_of({"a.png": png_bytes("a")}), "a.zip")
    answer = client.get(
        f"/v1/batches/{batch['id']}/items", headers=auth(key), params={"cursor": "bogus"}
    )
    assert answer.status_code == 422


def test_the_slice_counts_from_the_first_member_reached(
    client: TestClient,
    new_key: Callable[[str], str],
    ctx: WorkerContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Walking past members stored by earlier runs (slow for a big archive) does not use up
    the time slice: the run still ingests for a whole slice."""
    import worker.ingest as ingest

    key = new_key("slicer")
    batch = submit_archive(client, key, zip_of(mixed_tree()), "scans.zip")
    clock = [0.0]
    monkeypatch.setattr(ingest.time, "monotonic", lambda: clock[0])
    real_iter = ingest.iter_entries

    def slow_walk(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        clock[0] += 10 * ctx.settings.ingest_slice_seconds  # the walk to start_seq
        yield from real_iter(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "iter_entries", slow_walk)
    ingest_batch(ctx, batch["id"])
    with transaction(ctx.sessions) as session:
        done = session.get(Batch, batch["id"])
        assert done is not None and done.ingested_at is not None  # one run, not five
        assert done.next_seq == len(mixed_tree())
