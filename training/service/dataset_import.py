"""``import_dataset`` (CPU queue): a dataset's archive unpacked and read as ground truth.

A dataset made ``from_batch`` is first assembled: each finished page of the batch's jobs as its
image and a PAGE XML of its current text (corrections applied), zipped into the store, so both
kinds go through the same import. Per-file problems are kept on the dataset (the first
``MAX_PROBLEMS``); a dataset without one usable line fails with ``dataset_empty``.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from shared.corrections import corrected_texts
from shared.db.models import Dataset, DatasetStatus, Job, Page, PageStatus, utcnow
from shared.db.session import transaction
from shared.errors import QuireError
from shared.exporters.pagexml import render_pages
from shared.groundtruth.load import scan_ground_truth
from shared.groundtruth.stats import dataset_stats
from shared.objectkeys import dataset_source_key
from shared.results import build_result
from training.service.dataset_archive import (
    ArchiveCaps,
    DatasetArchiveError,
    unpack,
)

if TYPE_CHECKING:
    from shared.settings import Settings
    from shared.storage import ObjectStore
    from worker.context import WorkerContext

log = logging.getLogger("quire.datasets")
MAX_PROBLEMS = 200
MIB = 1024 * 1024


def import_dataset(ctx: WorkerContext, dataset_id: str) -> None:
    """Import the dataset once; a redelivered message for a finished import does nothing."""
    with transaction(ctx.sessions) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.status != DatasetStatus.IMPORTING:
            return
        tenant_id, source_key, batch_id = (
            dataset.tenant_id,
            dataset.source_key,
            dataset.from_batch_id,
        )
    with tempfile.TemporaryDirectory(prefix="quire-dataset-") as tmp:
        work = Path(tmp)
        if source_key is None:
            source_key = _assemble_from_batch(ctx, tenant_id, dataset_id, batch_id or "", work)
        outcome = read_dataset(ctx.store, source_key, work, ctx.settings)
    with transaction(ctx.sessions) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.status != DatasetStatus.IMPORTING:
            return
        dataset.source_key = source_key
        dataset.stats, dataset.problems = outcome.stats, outcome.problems[:MAX_PROBLEMS]
        if outcome.error is not None:
            dataset.status = DatasetStatus.FAILED.value
            dataset.error_code, dataset.error_message = outcome.error
        else:
            dataset.status = DatasetStatus.READY.value
        dataset.ready_at = utcnow()
    log.info("dataset %s: %s", dataset_id, outcome.stats or outcome.error)


class ReadOutcome:
    def __init__(self) -> None:
        self.stats: dict[str, object] | None = None
        self.problems: list[dict[str, str]] = []
        self.error: tuple[str, str] | None = None


def caps_of(settings: Settings) -> ArchiveCaps:
    return ArchiveCaps(
        max_members=settings.archive_max_members,
        max_member_bytes=settings.archive_max_member_mb * MIB,
        max_total_bytes=settings.archive_max_total_gb * 1024 * MIB,
    )


def fetch_and_unpack(
    store: ObjectStore, key: str, work: Path, settings: Settings
) -> tuple[Path, list[dict[str, str]]]:
    """The dataset's archive from the store, unpacked into ``work/files``."""
    archive = work / "source"
    with store.open_reader(key) as reader, archive.open("wb") as out:
        while chunk := reader.read(MIB):
            out.write(chunk)
    files = work / "files"
    files.mkdir()
    unpacked = unpack(archive, files, caps_of(settings))
    archive.unlink()
    return files, unpacked.problems


def read_dataset(store: ObjectStore, key: str, work: Path, settings: Settings) -> ReadOutcome:
    outcome = ReadOutcome()
    try:
        files, outcome.problems = fetch_and_unpack(store, key, work, settings)
    except DatasetArchiveError as e:
        outcome.error = ("corrupt_archive", str(e))
        return outcome
    scan = scan_ground_truth([files], max_pixels=settings.max_image_pixels)
    outcome.problems += [
        {
            "file": str(p.path.relative_to(files)) if p.path.is_relative_to(files) else p.path.name,
            "code": p.code,
            "message": p.message,
            **({"line": p.line_id} if p.line_id else {}),
        }
        for p in scan.problems
    ]
    outcome.stats = dataset_stats(scan)
    if scan.line_count == 0:
        outcome.error = (
            "dataset_empty",
            "no page with a usable transcribed line: send page images with PAGE XML or ALTO",
        )
    return outcome


def _assemble_from_batch(
    ctx: WorkerContext, tenant_id: str, dataset_id: str, batch_id: str, work: Path
) -> str:
    """Zip the batch's finished pages (image + PAGE XML with corrections) into the store."""
    zip_path = work / "assembled.zip"
    with (
        zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf,
        transaction(ctx.sessions) as session,
    ):
        jobs = list(
            session.scalars(select(Job).where(Job.tenant_id == tenant_id, Job.batch_id == batch_id))
        )
        corrections = corrected_texts(session, [j.id for j in jobs])
        for job in jobs:
            pages = list(session.scalars(select(Page).where(Page.job_id == job.id)))
            result = build_result(job, pages, corrections.get(job.id, {}))
            documents = render_pages(result, "")
            for page in sorted(pages, key=lambda p: p.index):
                if page.status != PageStatus.SUCCEEDED or page.index >= len(documents):
                    continue
                if not ctx.store.exists(page.image_key):
                    continue
                stem = f"{job.id[:8]}-{page.index:05d}"
                suffix = Path(page.image_key).suffix or ".png"
                zf.writestr(f"{stem}{suffix}", ctx.store.get_bytes(page.image_key))
                zf.writestr(f"{stem}.xml", documents[page.index])
    key = dataset_source_key(tenant_id, dataset_id, "zip")
    with zip_path.open("rb") as stream:
        ctx.store.put_stream(key, stream, "application/zip")
    zip_path.unlink()
    return key


def fail_import(ctx: WorkerContext, dataset_id: str, error: QuireError) -> None:
    """The import gave up (its retries spent): the dataset fails with the error's code."""
    with transaction(ctx.sessions) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is not None and dataset.status == DatasetStatus.IMPORTING:
            dataset.status = DatasetStatus.FAILED.value
            dataset.error_code, dataset.error_message = error.code, error.message
            dataset.ready_at = utcnow()
