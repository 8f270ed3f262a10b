"""A batch's results as a zip, streamed while it is built: nothing is held whole in memory
or written to disk, however many items the batch has."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import Batch, BatchItem, Job, Page
from shared.db.session import transaction
from shared.exporters import FORMATS, export
from shared.exporters.pagexml import render_pages
from shared.results import build_result
from shared.schemas import ResultOut

ITEMS_PER_QUERY = 200
MANIFEST = "manifest.json"


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
    """(name, bytes) of one item's results; PAGE XML gets one file per page."""
    for fmt in formats:
        if fmt == "pagexml" and len(result.pages) > 1:
            for page, document in zip(result.pages, render_pages(result, path), strict=True):
                yield f"{path}.p{page.index + 1:04d}{FORMATS[fmt].suffix}", document
            continue
        yield path + FORMATS[fmt].suffix, export(result, fmt, path)


def export_stream(
    sessions: sessionmaker[Session], batch: Batch, formats: list[str]
) -> Iterator[bytes]:
    """The zip's bytes, item by item, then ``manifest.json``."""
    sink = _Sink()
    manifest: list[dict[str, object]] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
        for item, job, pages in _items(sessions, batch.id):
            manifest.append(_manifest_entry(item, job))
            if job is None:
                continue
            for name, data in result_files(build_result(job, pages), item.path, formats):
                archive.writestr(name, data)
            yield sink.drain()
        summary = {"batch_id": batch.id, "status": batch.status, "items": manifest}
        archive.writestr(MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False))
    yield sink.drain()


def _manifest_entry(item: BatchItem, job: Job | None) -> dict[str, object]:
    if job is None:
        error = {"code": item.skip_code, "message": item.skip_reason}
        return {"path": item.path, "status": "skipped", "job_id": None, "error": error}
    failure = {"code": job.error_code, "message": job.error_message} if job.error_code else None
    return {"path": item.path, "status": job.status, "job_id": job.id, "error": failure}


def _items(
    sessions: sessionmaker[Session], batch_id: str
) -> Iterator[tuple[BatchItem, Job | None, list[Page]]]:
    """Items in archive order with their job and pages, a bounded slice at a time."""
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
            session.expunge_all()
        for item, job in rows:
            yield item, job, pages.get(job.id, []) if job is not None else []
        if len(rows) < ITEMS_PER_QUERY:
            return
        after = rows[-1][0].seq
