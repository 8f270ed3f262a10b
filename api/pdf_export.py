"""A job's searchable PDF, built at request time into a temporary file and streamed from it.

The upload is copied from the store to a private temporary folder, the PDF written beside
it, and the folder removed as soon as the PDF is open: the open file keeps its data readable
until the response has been sent (or dropped), so nothing is left behind either way. Memory
holds page objects and text, never the pages' images (see ``shared.exporters.searchable_pdf``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import quote

from shared.db.models import Job
from shared.exporters.pdfa import PdfaVerdict
from shared.exporters.searchable_pdf import write_searchable_pdf
from shared.schemas import ResultOut
from shared.storage import ObjectStore

CHUNK_BYTES = 1024 * 1024
PDF_MEDIA_TYPE = "application/pdf"
PDFA_HEADER = "X-Quire-PDFA"


@dataclass
class BuiltPdf:
    """A finished PDF, open for reading; its file no longer has a name on disk."""

    file: BinaryIO
    size: int
    pdfa: PdfaVerdict | None

    def chunks(self) -> Iterator[bytes]:
        """The PDF's bytes, a megabyte at a time; the file is closed at the end."""
        with self.file:
            while chunk := self.file.read(CHUNK_BYTES):
                yield chunk

    def close(self) -> None:
        """Close the file without reading it (when the PDF will not be sent)."""
        self.file.close()


def build_job_pdf(
    store: ObjectStore, job: Job, result: ResultOut, *, pdfa: bool = False
) -> BuiltPdf:
    """The job's searchable PDF over its stored upload.

    Raises:
        ObjectMissing: the upload is no longer stored.
        CorruptDocument, EncryptedDocument, CorruptImage: it cannot be read as pages.
    """
    with tempfile.TemporaryDirectory(prefix="quire-pdf-") as folder:
        source, out = Path(folder) / "source", Path(folder) / "result.pdf"
        _download(store, job.source_key, source)
        verdict = write_searchable_pdf(source, job.media_type, result, out, pdfa=pdfa)
        file = out.open("rb")
    return BuiltPdf(file, os.fstat(file.fileno()).st_size, verdict)


def _download(store: ObjectStore, key: str, path: Path) -> None:
    with store.open_reader(key) as reader, path.open("wb") as target:
        shutil.copyfileobj(reader, target, CHUNK_BYTES)


def pdf_filename(job: Job) -> str:
    """``scan.pdf`` for ``scan.jpg`` (folders dropped), ``<job id>.pdf`` for no name."""
    stem = PurePosixPath(job.filename.replace("\\", "/")).stem if job.filename else ""
    return f"{stem or job.id}.pdf"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, for other names, RFC 6266 ``filename*``."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(ch if ch.isprintable() and ch not in '"\\' else "_" for ch in fallback)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def pdf_headers(job: Job, built: BuiltPdf) -> dict[str, str]:
    """Content-Disposition, Content-Length and, for PDF/A, the verdict headers."""
    headers = {
        "Content-Disposition": content_disposition(pdf_filename(job)),
        "Content-Length": str(built.size),
    }
    if built.pdfa is not None:
        headers[PDFA_HEADER] = built.pdfa.status
        if built.pdfa.validator:
            headers[f"{PDFA_HEADER}-Validator"] = built.pdfa.validator
        if built.pdfa.detail:
            headers[f"{PDFA_HEADER}-Detail"] = _header_text(built.pdfa.detail)
    return headers


def _header_text(value: str, limit: int = 300) -> str:
    """``value`` as a one-line, Latin-1 header value of at most ``limit`` characters."""
    shown = "".join(ch if ch.isprintable() else " " for ch in value)
    flat = " ".join(shown.split())
    return flat.encode("latin-1", "replace").decode("latin-1")[:limit]
