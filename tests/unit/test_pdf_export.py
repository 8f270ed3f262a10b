"""The API side of the searchable PDF: file names, headers, a build from the store that
leaves nothing on disk."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from api.pdf_export import (
    PDFA_HEADER,
    BuiltPdf,
    build_job_pdf,
    content_disposition,
    pdf_filename,
    pdf_headers,
)
from shared.db.models import Job
from shared.errors import ObjectMissing
from shared.exporters.pdfa import PdfaVerdict
from shared.schemas import LineOut, PageOut, ResultOut
from shared.storage.local import LocalObjectStore


def job(filename: str = "scan.jpg", **fields: object) -> Job:
    values: dict[str, object] = {
        "id": "job-1",
        "tenant_id": "t",
        "source_key": "tenants/t/jobs/job-1/source.jpg",
        "media_type": "image/jpeg",
        "filename": filename,
        **fields,
    }
    return Job(**values)


@pytest.mark.parametrize(
    ("filename", "pdf_name"),
    [
        ("scan.jpg", "scan.pdf"),
        ("report.pdf", "report.pdf"),
        ("box1/deep/p3.tif", "p3.pdf"),
        ("C:\\scans\\p4.png", "p4.pdf"),
        ("no-extension", "no-extension.pdf"),
        ("archive.tar.gz", "archive.tar.pdf"),
        ("", "job-1.pdf"),
        (".jpg", ".jpg.pdf"),  # a dot file: its whole name is the stem
    ],
)
def test_pdf_filename(filename: str, pdf_name: str) -> None:
    assert pdf_filename(job(filename)) == pdf_name


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("scan.pdf", 'attachment; filename="scan.pdf"'),
        (
            "Brief an Müller.pdf",
            'attachment; filename="Brief an Muller.pdf"; '
            "filename*=UTF-8''Brief%20an%20M%C3%BCller.pdf",
        ),
        (
            'say "hi".pdf',
            "attachment; filename=\"say _hi_.pdf\"; filename*=UTF-8''say%20%22hi%22.pdf",
        ),
        ("日本.pdf", "attachment; filename=\".pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"),
    ],
)
def test_content_disposition(filename: str, header: str) -> None:
    assert content_disposition(filename) == header


def built(verdict: PdfaVerdict | None) -> BuiltPdf:
    return BuiltPdf(io.BytesIO(b"%PDF-"), 5, verdict)


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (None, {}),
        (
            PdfaVerdict("valid", "pikepdf"),
            {PDFA_HEADER: "valid", f"{PDFA_HEADER}-Validator": "pikepdf"},
        ),
        (
            PdfaVerdict("invalid", "pikepdf", "[violation] DeviceCMYK\nused \u2018here\u2019 ☃"),
            {
                PDFA_HEADER: "invalid",
                f"{PDFA_HEADER}-Validator": "pikepdf",
                f"{PDFA_HEADER}-Detail": "[violation] DeviceCMYK used ?here? ?",
            },
        ),
        (
            PdfaVerdict("unvalidated", None, "no validator"),
            {PDFA_HEADER: "unvalidated", f"{PDFA_HEADER}-Detail": "no validator"},
        ),
    ],
)
def test_pdf_headers(verdict: PdfaVerdict | None, expected: dict[str, str]) -> None:
    headers = pdf_headers(job(), built(verdict))
    assert headers == {
        "Content-Disposition": 'attachment; filename="scan.pdf"',
        "Content-Length": "5",
        **expected,
    }
    for value in headers.values():
        value.encode("latin-1")  # what HTTP headers can carry


def test_a_pdf_is_built_from_the_stored_upload_and_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "store")
    upload = io.BytesIO()
    Image.new("L", (400, 200), "white").save(upload, "JPEG", dpi=(200, 200))
    target = job()
    store.put_bytes(target.source_key, upload.getvalue(), "image/jpeg")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    line = LineOut(text="hello world", confidence=0.9, bbox=[10, 10, 300, 50])
    page = PageOut(index=0, width=400, height=200, status="succeeded", text="", lines=[line])
    res = ResultOut(job_id="job-1", status="succeeded", text="", model=None, pages=[page])

    pdf = build_job_pdf(store, target, res)
    assert list(scratch.iterdir()) == []  # the folder is gone, the open file still reads
    data = b"".join(pdf.chunks())
    assert pdf.file.closed and len(data) == pdf.size and pdf.pdfa is None
    with pikepdf.open(io.BytesIO(data)) as document:
        assert len(document.pages) == 1


def test_a_job_whose_upload_is_gone_is_object_missing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store")
    res = ResultOut(job_id="job-1", status="succeeded", text="", model=None, pages=[])
    with pytest.raises(ObjectMissing):
        build_job_pdf(store, job(), res)
