"""What the user's path is (one document, an archive, a folder) and folders packed to zip.

Archives are recognized by their first bytes, the name only as a fallback. A folder is packed
into a zip streamed to a file, keeping relative paths and skipping hidden files; the zip is
the same bytes each time for the same files, so an interrupted upload can be resumed.
"""

from __future__ import annotations

import mimetypes
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from quire_client.errors import InputError
from quire_client.streams import CHUNK_BYTES

InputKind = Literal["document", "archive", "folder"]
NameFilter = Callable[[str], bool]
ZIP = "application/zip"
GZIP = "application/gzip"
TAR = "application/x-tar"
SEVEN_Z = "application/x-7z-compressed"
RAR = "application/vnd.rar"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
ZSTD = "application/zstd"
ARCHIVE_SUFFIXES = (
    (".tar.gz", GZIP),
    (".tgz", GZIP),
    (".tar.bz2", BZIP2),
    (".tbz2", BZIP2),
    (".tar.xz", XZ),
    (".txz", XZ),
    (".tar.zst", ZSTD),
    (".zip", ZIP),
    (".7z", SEVEN_Z),
    (".rar", RAR),
    (".tar", TAR),
)
ARCHIVE_MAGIC = (
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"PK\x07\x08", ZIP),
    (b"7z\xbc\xaf\x27\x1c", SEVEN_Z),
    (b"Rar!\x1a\x07", RAR),
    (b"\x1f\x8b", GZIP),
    (b"BZh", BZIP2),
    (b"\xfd7zXZ\x00", XZ),
    (b"\x28\xb5\x2f\xfd", ZSTD),
)
DOCUMENT_MAGIC = (
    (b"%PDF", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)
# Already compressed: deflating them again costs time and saves nothing.
STORED_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".pdf", ".zip", ".gz", ".7z", ".rar", ".xz"}
)
STATE_SUFFIX = ".quire-state.json"


def sniff_archive(head: bytes) -> str | None:
    """The archive media type that a file's first 512 bytes show, if any."""
    found = next((media for magic, media in ARCHIVE_MAGIC if head.startswith(magic)), None)
    if found is None and head[257:262] == b"ustar":
        return TAR
    return found


def sniff_document(head: bytes) -> str | None:
    """The document media type that a file's first bytes show, if any."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((media for magic, media in DOCUMENT_MAGIC if head.startswith(magic)), None)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(512)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from e


def archive_type(path: Path) -> str | None:
    """The media type of an archive file (zip, 7z, RAR, tar, compressed tar), or None."""
    head = _head(path)
    if sniff_document(head) is not None:
        return None
    found = sniff_archive(head)
    if found is not None:
        return found
    name = path.name.lower()
    return next((media for suffix, media in ARCHIVE_SUFFIXES if name.endswith(suffix)), None)


def document_type(path: Path) -> str:
    """The media type to send a document with: its magic bytes, else its name."""
    found = sniff_document(_head(path))
    return found or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def classify(path: Path) -> InputKind:
    """Whether ``path`` is sent as one document (a job), an archive or a folder (a batch)."""
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    return "archive" if archive_type(path) else "document"


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.endswith(STATE_SUFFIX)


def folder_files(folder: Path, keep: NameFilter | None = None) -> list[tuple[Path, str]]:
    """The files to send from a folder, as (path, name in the zip), sorted by name.

    Hidden files and folders (a leading dot) and quire state files are left out, and with
    ``keep`` every file whose name it refuses.
    """
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            path = Path(root, name)
            if not _hidden(name) and (keep is None or keep(name)) and path.is_file():
                found.append((path, path.relative_to(folder).as_posix()))
    return sorted(found, key=lambda entry: entry[1])


def compression_for(name: str) -> int:
    """Deflate what may shrink; store what is compressed already."""
    suffix = os.path.splitext(name)[1].lower()
    return zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED


def pack_folder(
    folder: Path,
    dest: Path,
    on_bytes: Callable[[int], None] | None = None,
    keep: NameFilter | None = None,
) -> int:
    """Write the folder's files into a zip at ``dest``, one chunk at a time.

    Args:
        folder: The folder; paths in the zip are relative to it.
        dest: The zip to write (replaced if it exists).
        on_bytes: Called with the number of input bytes packed, chunk by chunk.
        keep: Which file names to pack (default: every file not hidden).

    Returns:
        The number of files packed.

    Raises:
        InputError: The folder holds no file to send.
    """
    files = folder_files(folder, keep)
    if not files:
        raise InputError(f"{folder}: no files to send (hidden files are skipped)")
    with zipfile.ZipFile(dest, "w", allowZip64=True) as archive:
        for path, name in files:
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = compression_for(name)
            with path.open("rb") as source, archive.open(info, "w") as target:
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
    return len(files)


def folder_bytes(folder: Path, keep: NameFilter | None = None) -> int:
    """The total size of the files ``pack_folder`` would pack (for a progress bar)."""
    return sum(path.stat().st_size for path, _ in folder_files(folder, keep))
