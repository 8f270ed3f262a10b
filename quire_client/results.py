"""Results on disk: a job's documents, or a batch's export zip unpacked safely.

Files are written to a temporary name and moved into place, so an interrupted download never
leaves half a file; a file whose content is unchanged is left alone, so running again is
harmless. Zip members that would land outside the output folder refuse the whole archive.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from quire_client.api import QuireApi
from quire_client.errors import ClientError, UnsafeArchive
from quire_client.formats import result_file_name
from quire_client.models import Job
from quire_client.progress import Progress
from quire_client.streams import CHUNK_BYTES

EXPORT_NAME = "export.zip"  # how the state file names a batch's downloaded export


@dataclass
class SaveReport:
    """How many files a download wrote, and how many were already there unchanged."""

    written: int = 0
    unchanged: int = 0

    def add(self, changed: bool) -> None:
        """Count one file."""
        if changed:
            self.written += 1
        else:
            self.unchanged += 1


def member_path(name: str) -> PurePosixPath:
    """Where a zip member goes, relative to the output folder.

    Raises:
        UnsafeArchive: The name is absolute, has a drive, or climbs out with ``..``.
    """
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    drive = len(text) > 1 and text[1] == ":"
    if not text or text.startswith("/") or drive or ".." in path.parts:
        raise UnsafeArchive(f"refusing archive member {name!r}: it would land outside the folder")
    return path


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every member with its relative path, checked before anything is written."""
    members = []
    for info in archive.infolist():
        if _is_link(info):
            raise UnsafeArchive(f"refusing archive member {info.filename!r}: a symbolic link")
        members.append((info, member_path(info.filename)))
    return members


def same_content(path: Path, chunks: Iterable[bytes]) -> bool:
    """Whether the file at ``path`` holds exactly the bytes of ``chunks``."""
    try:
        with path.open("rb") as existing:
            for chunk in chunks:
                if existing.read(len(chunk)) != chunk:
                    return False
            return existing.read(1) == b""
    except FileNotFoundError:
        return False


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            crc = zlib.crc32(chunk, crc)
    return crc


def _unchanged(dest: Path, info: zipfile.ZipInfo) -> bool:
    return dest.is_file() and dest.stat().st_size == info.file_size and _crc32(dest) == info.CRC


@contextmanager
def _temporary_beside(dest: Path) -> Iterator[Path]:
    """A temporary file in ``dest``'s folder (so the final move is atomic), removed unless
    the caller moved it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def save_stream(chunks: Iterable[bytes], dest: Path) -> bool:
    """Write ``chunks`` to ``dest`` unless it holds them already.

    Returns:
        Whether ``dest`` was written (False: it was there, identical).
    """
    with _temporary_beside(dest) as temporary:
        with temporary.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        if dest.is_file() and same_content(dest, _read_chunks(temporary)):
            return False
        os.replace(temporary, dest)
        return True


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def extract_zip(zip_path: Path, out_dir: Path) -> SaveReport:
    """Unpack a zip into ``out_dir``, keeping its folders; refuses unsafe members first.

    Raises:
        UnsafeArchive: A member is absolute, climbs out with ``..``, or is a link.
    """
    report = SaveReport()
    with zipfile.ZipFile(zip_path) as archive:
        for info, relative in safe_members(archive):
            dest = out_dir.joinpath(*relative.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            if _unchanged(dest, info):
                report.add(False)
                continue
            with _temporary_beside(dest) as temporary:
                with archive.open(info) as source, temporary.open("wb") as target:
                    shutil.copyfileobj(source, target, CHUNK_BYTES)
                os.replace(temporary, dest)
            report.add(True)
    return report


def download_batch(
    api: QuireApi, batch_id: str, formats: list[str], out_dir: Path, progress: Progress
) -> SaveReport:
    """Stream the batch's export to a temporary zip, then unpack it into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quire-export-") as folder:
        zip_path = Path(folder, EXPORT_NAME)
        with api.open_batch_export(batch_id, formats) as response, zip_path.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with progress.bytes_bar(total, "download") as bar:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
        if not zipfile.is_zipfile(zip_path):
            raise ClientError(f"the export of batch {batch_id} is not a zip archive")
        return extract_zip(zip_path, out_dir)


def result_stem(job: Job) -> str:
    """The base of a job's result file names: its file's name, else its id."""
    name = PurePosixPath((job.filename or "").replace("\\", "/")).name
    return name if name not in ("", ".", "..") else job.id


def job_result_files(job: Job, formats: list[str]) -> list[tuple[str, str, int | None]]:
    """(file name, format, page) of each result file of a job; PAGE XML of a multi-page
    job is one file per page (``page`` 0-based, the name counts from 1)."""
    stem = result_stem(job)
    files: list[tuple[str, str, int | None]] = []
    for fmt in formats:
        if fmt == "pagexml" and job.pages_total > 1:
            files += [
                (result_file_name(stem, fmt, index + 1), fmt, index)
                for index in range(job.pages_total)
            ]
        else:
            files.append((result_file_name(stem, fmt), fmt, None))
    return files


def download_job(
    api: QuireApi,
    job: Job,
    formats: list[str],
    out_dir: Path,
    *,
    skip: Collection[str] = (),
    on_saved: Callable[[str], None] | None = None,
) -> SaveReport:
    """Save a job's results as ``out_dir/<file name or id><suffix>``, one file per format.

    Args:
        skip: File names already saved by an earlier run (left alone if still on disk).
        on_saved: Called with each file name once it is on disk.
    """
    report = SaveReport()
    for name, fmt, page in job_result_files(job, formats):
        dest = out_dir / name
        if name in skip and dest.is_file():
            report.add(False)
            continue
        with api.open_job_result(job.id, fmt, page) as response:
            report.add(save_stream(response.iter_bytes(CHUNK_BYTES), dest))
        if on_saved is not None:
            on_saved(name)
    return report
