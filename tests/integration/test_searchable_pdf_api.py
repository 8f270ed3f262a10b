"""``GET /v1/jobs/{id}/result?format=pdf`` through the real API app, after the real worker
steps (fake engine) over real databases, Redis and a local store."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from fastapi.testclient import TestClient

from shared.schemas import LineOut
from tests.batch_inputs import jpeg_bytes, pdf_bytes
from tests.integration.conftest import auth
from tests.unit.test_searchable_pdf import (
    assert_words_on_boxes,
    pdfium_words,
    pdfminer_lines,
    raw_images,
)
from worker.context import WorkerContext
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job

pytestmark = pytest.mark.integration


def submit(client: TestClient, key: str, name: str, data: bytes, mime: str) -> str:
    answer = client.post("/v1/jobs", headers=auth(key), files={"file": (name, data, mime)})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def run_pages(ctx: WorkerContext, job_id: str, pages: int) -> None:
    prepare_job(ctx, job_id)
    for index in range(pages):
        ocr_page(ctx, job_id, index)


def test_a_jpeg_job_as_a_searchable_pdf(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, tmp_path: Path
) -> None:
    key = new_key("pdf-reader")
    upload = jpeg_bytes("first page")  # no resolution of its own: taken as 300 dpi
    job_id = submit(client, key, "letters/scan 1.jpg", upload, "image/jpeg")
    run_pages(ctx, job_id, 1)
    result = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()

    answer = client.get(f"/v1/jobs/{job_id}/result?format=pdf", headers=auth(key))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == 'attachment; filename="scan 1.pdf"'
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert "x-quire-pdfa" not in answer.headers
    out = tmp_path / "result.pdf"
    out.write_bytes(answer.content)
    assert raw_images(out) == [("/DCTDecode", upload)]
    lines = [line["text"] for line in result["pages"][0]["lines"]]
    assert lines and [item.get_text().rstrip("\n") for item in pdfminer_lines(out)] == lines
    boxes = [LineOut(**line) for line in result["pages"][0]["lines"]]
    assert_words_on_boxes(pdfium_words(out, scale=300 / 72), boxes, scale=300 / 72)

    pdfa = client.get(f"/v1/jobs/{job_id}/result?format=pdf&pdfa=true", headers=auth(key))
    assert pdfa.status_code == 200
    assert (pdfa.headers["x-quire-pdfa"], pdfa.headers["x-quire-pdfa-validator"]) in {
        ("valid", "pikepdf"),
        ("valid", "verapdf"),
    }
    with pikepdf.open(io.BytesIO(pdfa.content)) as document:
        assert document.open_metadata()["pdfaid:part"] == "2"


def test_a_pdf_job_keeps_its_pages_and_reads_page_by_page(
    client: TestClient, new_key: Callable[[str], str], ctx: WorkerContext, tmp_path: Path
) -> None:
    key = new_key("pdf-pages")
    upload = pdf_bytes(["third page", "fourth page", "fifth page"])
    job_id = submit(client, key, "three.pdf", upload, "application/pdf")
    prepare_job(ctx, job_id)
    ocr_page(ctx, job_id, 0)  # page 1 done, pages 2 and 3 still queued: readable already
    ocr_page(ctx, job_id, 2)
    answer = client.get(f"/v1/jobs/{job_id}/result?format=pdf", headers=auth(key))
    assert answer.status_code == 200, answer.text
    assert "retry-after" in answer.headers  # the job is still running
    out = tmp_path / "result.pdf"
    out.write_bytes(answer.content)
    with pikepdf.open(io.BytesIO(upload)) as before, pikepdf.open(out) as after:
        assert len(after.pages) == len(before.pages) == 3
    result = client.get(f"/v1/jobs/{job_id}/result", headers=auth(key)).json()
    for index in (0, 2):
        lines = [LineOut(**line) for line in result["pages"][index]["lines"]]
        assert lines
        assert_words_on_boxes(pdfium_words(out, index), lines)
    assert pdfium_words(out, 1) == []


def test_another_tenants_job_has_no_pdf(client: TestClient, new_key: Callable[[str], str]) -> None:
    owner, other = new_key("pdf-owner"), new_key("pdf-other")
    job_id = submit(client, owner, "a.jpg", jpeg_bytes("mine"), "image/jpeg")
    answer = client.get(f"/v1/jobs/{job_id}/result?format=pdf", headers=auth(other))
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_the_openapi_document_offers_pdf(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/jobs/{job_id}/result"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert "pdf" in parameters["format"]["schema"]["enum"]
    assert "invisible" in parameters["format"]["description"]
    assert parameters["pdfa"]["schema"]["type"] == "boolean"
    assert "application/pdf" in operation["responses"]["200"]["content"]
