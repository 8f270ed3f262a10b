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
ARCHIVE_EXTENSIONS = {"zip": "zip", "tar": "tar", "tar.gz": "tar.gz"}


def sniff_archive(head: bytes) -> str | None:
    """``zip``, ``tar`` or ``tar.gz`` from the first 512 bytes, or None.

    Gzip is taken to hold a tar; reading it as one tells for sure.
    """
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None
