"""Line corrections through the API: versions with who and when, results and exports with
corrections or as recognized, a corrected batch's PAGE XML read back as ground truth."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, update

from shared.db.models import LineCorrection, Page
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.groundtruth.load import read_raw_page
from shared.key_scopes import KeyScope
from shared.settings import Settings
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration

LINES = [
    {"text": "Dear Sir,", "confidence": 0.91, "bbox": [40, 30, 300, 70], "handwritten": True},
    {"text": "I recieved your leter", "confidence": 0.42, "bbox": [40, 90, 520, 130]},
]


def png(shade: int = 250) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 200), (shade, shade, shade)).save(out, "PNG")
    return out.getvalue()


class Db:
    """Direct access for what the workers would have written."""

    def __init__(self, settings: Settings) -> None:
        self.sessions = build_sessionmaker(build_engine(settings.effective_database_url))

    def recognize(self, job_id: str, page_index: int = 0) -> None:
        """The page as a worker leaves it: succeeded, with two lines (a batch's documents
        have no page rows until a worker splits them)."""
        with transaction(self.sessions) as session:
            found = select(Page.id).where(Page.job_id == job_id, Page.index == page_index)
            if session.scalar(found) is None:
                session.add(Page(job_id=job_id, index=page_index, image_key=f"{job_id}/p0"))
                session.flush()
            session.execute(
                update(Page)
                .where(Page.job_id == job_id, Page.index == page_index)
                .values(
                    status="succeeded",
                    width=600,
                    height=200,
                    lines=LINES,
                    text="\n".join(str(line["text"]) for line in LINES),
                    model="quire-htr-crnn@2",
                )
            )

    def corrections(self, *job_ids: str) -> int:
        """Corrections stored for these jobs."""
        query = select(func.count()).where(LineCorrection.job_id.in_(job_ids))
        with transaction(self.sessions) as session:
            return int(session.scalar(query) or 0)


@pytest.fixture
def db(settings: Settings) -> Db:
    return Db(settings)


@pytest.fixture
def key(new_key: Callable[..., str]) -> str:
    return new_key(f"fix-{uuid.uuid4().hex[:6]}")


def submit(client: TestClient, key: str) -> str:
    answer = client.post(
        "/v1/jobs", headers=auth(key), files={"file": ("letter.png", png(), "image/png")}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def patch(client: TestClient, key: str, job_id: str, line: int, **body: Any) -> Any:
    return client.patch(f"/v1/jobs/{job_id}/pages/0/lines/{line}", headers=auth(key), json=body)


def test_a_correction_is_a_version_and_results_carry_it(
    client: TestClient, key: str, db: Db
) -> None:
    job_id = submit(client, key)
    db.recognize(job_id)
    answer = patch(client, key, job_id, 1, text="I received your letter")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["line"]["text"] == "I received your letter" and body["line"]["corrected"]
    assert body["recognized_text"] == "I recieved your leter"
    [version] = body["versions"]
    assert version["version"] == 1 and version["text_before"] == "I recieved your leter"
    assert version["model"] == "quire-htr-crnn@2" and version["author"].startswith("fix-")

    result = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()
    lines = result["pages"][0]["lines"]
    assert [line["text"] for line in lines] == ["Dear Sir,", "I received your letter"]
    assert [line["corrected"] for line in lines] == [False, True]
    assert result["pages"][0]["text"] == "Dear Sir,\nI received your letter"
    assert result["text"] == "Dear Sir,\nI received your letter"
    as_read = client.get(
        f"/v1/jobs/{job_id}/result", headers=auth(key), params={"recognized": "true"}
    ).json()
    assert as_read["pages"][0]["lines"][1]["text"] == "I recieved your leter"
    for fmt in ("txt", "pagexml", "alto", "hocr"):
        text = client.get(
            f"/v1/jobs/{job_id}/result", headers=auth(key), params={"format": fmt}
        ).text
        assert "received" in text and "recieved" not in text, fmt

    history = client.get(f"/v1/jobs/{job_id}/pages/0/lines/1/history", headers=auth(key))
    assert history.json() == body


def test_expected_text_guards_against_a_lost_update(client: TestClient, key: str, db: Db) -> None:
    job_id = submit(client, key)
    db.recognize(job_id)
    assert patch(client, key, job_id, 0, text="Dear Sirs,").status_code == 200
    stale = patch(client, key, job_id, 0, text="Dear Madam,", expected_text="Dear Sir,")
    assert stale.status_code == 409 and stale.json()["code"] == "edit_conflict"
    fresh = patch(client, key, job_id, 0, text="Dear Madam,", expected_text="Dear Sirs,")
    assert fresh.status_code == 200
    assert [v["text_after"] for v in fresh.json()["versions"]] == ["Dear Sirs,", "Dear Madam,"]
    same = patch(client, key, job_id, 0, text="Dear Madam,")
    assert same.status_code == 200 and len(same.json()["versions"]) == 2  # nothing new stored
    assert db.corrections(job_id) == 2


@pytest.mark.parametrize(
    ("path_part", "body", "status", "code"),
    [
        ("pages/0/lines/7", {"text": "x"}, 404, "not_found"),
        ("pages/3/lines/0", {"text": "x"}, 404, "not_found"),
        ("pages/0/lines/0", {"text": "two\nlines"}, 422, "invalid_request"),
        ("pages/0/lines/0", {"text": "x" * 10_001}, 422, None),
        ("pages/0/lines/0", {}, 422, None),
    ],
)
def test_bad_corrections_are_refused_with_a_reason(
    client: TestClient,
    key: str,
    db: Db,
    path_part: str,
    body: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    job_id = submit(client, key)
    db.recognize(job_id)
    answer = client.patch(f"/v1/jobs/{job_id}/{path_part}", headers=auth(key), json=body)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["code"] == code
    assert db.corrections(job_id) == 0


def test_a_page_not_recognized_another_tenant_and_a_read_key_are_refused(
    client: TestClient, new_key: Callable[..., str], db: Db
) -> None:
    tenant = f"fix-{uuid.uuid4().hex[:6]}"
    key = new_key(tenant)
    job_id = submit(client, key)
    waiting = patch(client, key, job_id, 0, text="x")
    assert waiting.status_code == 409 and waiting.json()["code"] == "page_not_finished"
    db.recognize(job_id)
    other = new_key(f"other-{uuid.uuid4().hex[:6]}")
    assert patch(client, other, job_id, 0, text="x").status_code == 404
    history = client.get(f"/v1/jobs/{job_id}/pages/0/lines/0/history", headers=auth(other))
    assert history.status_code == 404
    reader = new_key(tenant, scopes=[KeyScope.READ])
    refused = patch(client, reader, job_id, 0, text="x")
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"
    readable = client.get(f"/v1/jobs/{job_id}/pages/0/lines/0/history", headers=auth(reader))
    assert readable.status_code == 200 and readable.json()["versions"] == []
    assert db.corrections(job_id) == 0


def test_review_mark_shows_in_the_result(client: TestClient, key: str, db: Db) -> None:
    job_id = submit(client, key)
    db.recognize(job_id)
    marked = client.post(f"/v1/jobs/{job_id}/pages/0/review", headers=auth(key), json={})
    assert marked.status_code == 200 and marked.json()["reviewed_at"] is not None
    page = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()["pages"][0]
    assert page["reviewed_by"] == marked.json()["reviewed_by"] != ""
    unmarked = client.post(
        f"/v1/jobs/{job_id}/pages/0/review", headers=auth(key), json={"reviewed": False}
    )
    assert unmarked.json()["reviewed_at"] is None


def test_a_corrected_batch_exports_ground_truth_and_deleting_drops_corrections(
    client: TestClient, key: str, db: Db, tmp_path: Path
) -> None:
    files = [("files", (f"letter{n}.png", png(240 + n), "image/png")) for n in range(2)]
    batch = client.post("/v1/batches", headers=auth(key), files=files).json()
    jobs = client.get("/v1/jobs", headers=auth(key), params={"batch_id": batch["id"]}).json()
    by_name = {j["filename"]: j["id"] for j in jobs["items"]}
    for job_id in by_name.values():
        db.recognize(job_id)
    assert patch(client, key, by_name["letter1.png"], 1, text="I received your letter").is_success

    def export(**params: str) -> zipfile.ZipFile:
        answer = client.get(
            f"/v1/batches/{batch['id']}/export",
            headers=auth(key),
            params={"format": "pagexml", **params},
        )
        assert answer.status_code == 200, answer.text
        return zipfile.ZipFile(io.BytesIO(answer.content))

    corrected = export()
    (tmp_path / "letter1.png.page.xml").write_bytes(corrected.read("letter1.png.page.xml"))
    page, problems = read_raw_page(tmp_path / "letter1.png.page.xml")
    assert not problems
    assert [line.text for line in page.lines] == ["Dear Sir,", "I received your letter"]
    assert b"leter" in corrected.read("letter0.png.page.xml")  # the other item is untouched
    assert b"leter" in export(recognized="true").read("letter1.png.page.xml")

    assert db.corrections(*by_name.values()) == 1
    assert client.delete(f"/v1/batches/{batch['id']}", headers=auth(key)).status_code == 204
    assert db.corrections(*by_name.values()) == 0


def test_confirming_a_line_stores_a_version_without_changing_it(
    client: TestClient, key: str, db: Db
) -> None:
    job_id = submit(client, key)
    db.recognize(job_id)
    confirmed = patch(client, key, job_id, 0, text="Dear Sir,", confirm=True)
    assert confirmed.status_code == 200
    body = confirmed.json()
    assert body["line"]["corrected"] is False and body["line"]["text"] == "Dear Sir,"
    assert [(v["text_before"], v["text_after"]) for v in body["versions"]] == [
        ("Dear Sir,", "Dear Sir,")
    ]
    line = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()["pages"][0]
    assert line["lines"][0]["corrected"] is False
