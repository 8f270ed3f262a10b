"""``quire datasets push``: ground truth (page images with PAGE XML or ALTO) becomes a dataset.

A folder is zipped on the fly into a temporary file (its images and ``.xml`` files, relative
paths kept), an archive is sent as it is, ``--from-batch`` asks the server to build one from a
batch's pages. With ``--wait`` the import is polled until the dataset is ready or failed.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from quire_client.api import QuireApi
from quire_client.errors import InputError
from quire_client.packing import (
    BZIP2,
    GZIP,
    TAR,
    XZ,
    ZIP,
    archive_type,
    classify,
    folder_bytes,
    pack_folder,
)
from quire_client.progress import Progress
from quire_client.training_resources import Dataset
from quire_client.training_text import describe_dataset
from quire_client.waiting import EXIT_FAILED, EXIT_SUCCEEDED, poll_until_terminal

# What the server's import reads (training/service/dataset_archive.py keeps the same names).
DATASET_SUFFIXES = frozenset(
    {".xml", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".jp2", ".gif"}
)
DATASET_ARCHIVES = frozenset({ZIP, TAR, GZIP, BZIP2, XZ})


@dataclass(frozen=True)
class PushOptions:
    """What ``quire datasets push`` was asked to do: a path or a batch, not both."""

    path: Path | None = None
    from_batch: str | None = None
    name: str | None = None
    wait: bool = False


def is_ground_truth(name: str) -> bool:
    """Whether a folder's file goes into the dataset: an image or an XML file."""
    return Path(name).suffix.lower() in DATASET_SUFFIXES


def run_push(api: QuireApi, options: PushOptions, progress: Progress, stdout: TextIO) -> int:
    """Create the dataset, print its id on stdout, then wait for its import if asked.

    Returns:
        0 when sent (or, waiting, ready), 4 when the import failed.
    """
    dataset = _create(api, options, progress)
    print(dataset.id, file=stdout, flush=True)
    if not options.wait:
        progress.note(f"dataset {dataset.id}: {dataset.status}")
        return EXIT_SUCCEEDED
    progress.note(f"dataset {dataset.id}: importing...")
    dataset = poll_until_terminal(api, dataset, lambda d: api.get_dataset(d.id), progress)
    progress.note(describe_dataset(dataset))
    return EXIT_SUCCEEDED if dataset.status == "ready" else EXIT_FAILED


def _create(api: QuireApi, options: PushOptions, progress: Progress) -> Dataset:
    key = str(uuid.uuid4())  # one per push: a request retried after a 503 makes one dataset
    if (options.path is None) == (options.from_batch is None):
        raise InputError("give a folder or an archive, or --from-batch ID (not both)")
    if options.from_batch is not None:
        return api.dataset_from_batch(options.from_batch, name=options.name, idempotency_key=key)
    assert options.path is not None
    kind = classify(options.path)
    if kind == "folder":
        return _send_folder(api, options.path, options.name, key, progress)
    media_type = archive_type(options.path) if kind == "archive" else None
    if media_type not in DATASET_ARCHIVES:
        raise InputError(
            f"{options.path}: a dataset is a folder, a zip or a tar (gzip, bzip2 or xz) "
            "of page images with PAGE XML or ALTO"
        )
    assert media_type is not None
    return _send_archive(api, options.path, media_type, options.name, key, progress)


def _send_archive(
    api: QuireApi, path: Path, media_type: str, name: str | None, key: str, progress: Progress
) -> Dataset:
    with progress.bytes_bar(path.stat().st_size, "upload") as bar:
        return api.create_dataset(
            path, name=name, media_type=media_type, idempotency_key=key, on_bytes=bar.update
        )


def _send_folder(
    api: QuireApi, folder: Path, name: str | None, key: str, progress: Progress
) -> Dataset:
    """Zip the folder's images and XML files into a temporary file and send that."""
    with tempfile.TemporaryDirectory(prefix="quire-dataset-") as scratch:
        zip_path = Path(scratch, f"{folder.resolve().name or 'dataset'}.zip")
        with progress.bytes_bar(folder_bytes(folder, is_ground_truth), "pack") as bar:
            count = pack_folder(folder, zip_path, bar.update, keep=is_ground_truth)
        progress.note(f"packed {count} files from {folder}")
        return _send_archive(api, zip_path, ZIP, name, key, progress)
