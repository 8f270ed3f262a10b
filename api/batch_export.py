"""A batch's results as a zip, streamed while it is built: nothing is held whole in memory,
however many items the batch has. Only a searchable PDF touches the disk: one item's at a
time, built over its stored upload (``api.pdf_export``) and copied into the zip in chunks."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.pdf_export import build_job_pdf
from shared.corrections import CorrectedTexts, corrected_texts
from shared.db.models import Batch, BatchItem, Job, Page
from shared.db.session import transaction
from shared.errors import QuireError
from shared.exporters import FORMATS, export
from shared.exporters.pagexml import render_pages
from shared.results import build_result
from shared.schemas import ResultOut
from shared.storage import ObjectStore

ITEMS_PER_QUERY = 200
MANIFEST = "manifest.json"
PDF = "pdf"
# Deflate can grow incompressible data a little: the margin zipfile itself uses for ZIP64.
ZIP64_MARGIN = 1.05


class _Sink:
    """A write-only file for ZipFile that hands out what was written so far."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        out, self._chunks = b"".join(self._chunks), []
        return out


def result_files(result: ResultOut, path: str, formats: list[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of one item's results made from the result alone (not the PDF); PAGE
    XML gets one file per page."""
    for fmt in formats:
        if FORMATS[fmt].needs_source:
            continue
        if fmt == "pagexml" and len(result.pages) > 1:
            for page, document in zip(result.pages, render_pages(result, path), strict=True):
                yield f"{path}.p{page.index + 1:04d}{FORMATS[fmt].suffix}", document
            continue
        yield path + FORMATS[fmt].suffix, export(result, fmt, path)


def export_stream(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    batch: Batch,
    formats: list[str],
    recognized: bool = False,
) -> Iterator[bytes]:
    """The zip's bytes, item by item, then ``manifest.json``; lines as corrected unless
    ``recognized``."""
    sink = _Sink()
    manifest: list[dict[str, object]] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
        for item, job, pages, corrections in _items(sessions, batch.id, recognized):
            entry = _manifest_entry(item, job)
            manifest.append(entry)
            if job is None:
                continue
            result = build_result(job, pages, corrections)
            for name, data in result_files(result, item.path, formats):
                archive.writestr(name, data)
            yield sink.drain()
            if PDF in formats:
                yield from _pdf_member(archive, sink, store, job, result, item.path, entry)
        summary = {"batch_id": batch.id, "status": batch.status, "items": manifest}
        archive.writestr(MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False))
    yield sink.drain()


def _pdf_member(
    archive: zipfile.ZipFile,
    sink: _Sink,
    store: ObjectStore,
    job: Job,
    result: ResultOut,
    path: str,
    entry: dict[str, Any],
) -> Iterator[bytes]:
    """Add the item's searchable PDF, a chunk at a time; an upload that cannot be made into
    one (a failed job's corrupt file, say) is noted in its manifest entry as ``pdf_error``."""
    try:
        built = build_job_pdf(store, job, result)
    except QuireError as e:
        if e.retryable:
            raise
        entry["pdf_error"] = {"code": e.code, "message": e.message}
        return
    name = path + FORMATS[PDF].suffix
    zip64 = built.size * ZIP64_MARGIN > zipfile.ZIP64_LIMIT
    with archive.open(name, "w", force_zip64=zip64) as member:
        for chunk in built.chunks():
            member.write(chunk)
            yield sink.drain()


def _manifest_entry(item: BatchItem, job: Job | None) -> dict[str, Any]:
    if job is None:
        error = {"code": item.skip_code, "message": item.skip_reason}
        return {"path": item.path, "status": "skipped", "job_id": None, "error": error}
    failure = {"code": job.error_code, "message": job.error_message} if job.error_code else None
    return {"path": item.path, "status": job.status, "job_id": job.id, "error": failure}


def _items(
    sessions: sessionmaker[Session], batch_id: str, recognized: bool
) -> Iterator[tuple[BatchItem, Job | None, list[Page], CorrectedTexts]]:
    """Items in archive order with their job, pages and corrected lines (none when
    ``recognized``), a bounded slice at a time."""
    after = -1
    while True:
        with transaction(sessions) as session:
            rows = session.execute(
                select(BatchItem, Job)
                .outerjoin(Job, Job.id == BatchItem.job_id)
                .where(BatchItem.batch_id == batch_id, BatchItem.seq > after)
                .order_by(BatchItem.seq)
                .limit(ITEMS_PER_QUERY)
            ).all()
            job_ids = [job.id for _, job in rows if job is not None]
            pages: dict[str, list[Page]] = {}
            for page in session.scalars(select(Page).where(Page.job_id.in_(job_ids))):
                pages.setdefault(page.job_id, []).append(page)
            corrected = {} if recognized else corrected_texts(session, job_ids)
            session.expunge_all()
        for item, job in rows:
            if job is None:
                yield item, None, [], {}
            else:
                yield item, job, pages.get(job.id, []), corrected.get(job.id, {})
        if len(rows) < ITEMS_PER_QUERY:
            return
        after = rows[-1][0].seq
