"""File types from magic bytes, never from the filename or the client's Content-Type."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 16


@dataclass(frozen=True)
class MediaType:
    """A file type quire accepts."""

    mime: str
    extension: str
    raster: bool  # decodable by Pillow as an image (as opposed to a document container)


PNG = MediaType("image/png", "png", True)
JPEG = MediaType("image/jpeg", "jpg", True)
TIFF = MediaType("image/tiff", "tif", True)
WEBP = MediaType("image/webp", "webp", True)
BMP = MediaType("image/bmp", "bmp", True)
GIF = MediaType("image/gif", "gif", True)
PDF = MediaType("application/pdf", "pdf", False)

ACCEPTED = (PNG, JPEG, TIFF, WEBP, BMP, GIF, PDF)
# Documents whose pages the CPU worker splits out, even when there is only one.
MULTI_PAGE = (PDF.mime, TIFF.mime)


def sniff(head: bytes) -> MediaType | None:
    """The media type whose signature starts ``head``, or None if none matches."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:2] == b"BM" and len(head) >= 14:
        return BMP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def by_mime(mime: str) -> MediaType | None:
    """The accepted media type with this MIME name."""
    return next((m for m in ACCEPTED if m.mime == mime), None)


ARCHIVE_SNIFF_BYTES = 512
ARCHIVE_KINDS = ("zip", "7z", "rar", "tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst")
"""The archive formats a batch may come in (read by libarchive in the worker)."""
ARCHIVE_NAMES = "zip, 7z, RAR, tar, tar.gz, tar.bz2, tar.xz or tar.zst"
ARCHIVE_EXTENSIONS = {kind: kind for kind in ARCHIVE_KINDS}

_ARCHIVE_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip is its end record alone
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07\x00", "rar"),  # RAR 1.5-4.x
    (b"Rar!\x1a\x07\x01\x00", "rar"),  # RAR 5
    (b"\x1f\x8b", "tar.gz"),
    (b"BZh", "tar.bz2"),
    (b"\xfd7zXZ\x00", "tar.xz"),
    (b"\x28\xb5\x2f\xfd", "tar.zst"),
)


def sniff_archive(head: bytes) -> str | None:
    """The archive kind (one of ``ARCHIVE_KINDS``) that the first 512 bytes show, or None.

    A gzip, bzip2, xz or zstd stream is taken to hold a tar; reading it as one tells for sure.
    """
    found = next((kind for magic, kind in _ARCHIVE_MAGIC if head.startswith(magic)), None)
    if found is None and len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return found
