from __future__ import annotations

import pytest

from shared import media
from shared.media import ACCEPTED, SNIFF_BYTES, by_mime, sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", media.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", media.JPEG),
        (b"\xff\xd8\xff\xe1\x00\x10Exif\x00", media.JPEG),
        (b"II*\x00\x08\x00\x00\x00", media.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", media.TIFF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", media.WEBP),
        (b"BM" + b"\x00" * 12, media.BMP),
        (b"BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00", media.BMP),
        (b"GIF87a\x01\x00\x01\x00", media.GIF),
        (b"GIF89a\x01\x00\x01\x00", media.GIF),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", media.PDF),
    ],
    ids=[
        "png",
        "jpeg-jfif",
        "jpeg-exif",
        "tiff-le",
        "tiff-be",
        "webp",
        "bmp-min",
        "bmp",
        "gif87a",
        "gif89a",
        "pdf",
    ],
)
def test_sniff_recognizes_signatures(head: bytes, expected: media.MediaType) -> None:
    assert sniff(head) is expected


@pytest.mark.parametrize(
    "head",
    [
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",  # zip / docx
        b"",
        b"hello, world\n",
        b"BM",  # too short to be a BMP header
        b"BM" + b"\x00" * 11,  # one byte short of the 14-byte file header
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        b"\x89PNG\r\n",  # truncated PNG signature
        b"\xff\xd8",  # truncated JPEG signature
        b"II+\x00",  # BigTIFF is not accepted
        b"GIF88a",
        b"%PDF",  # missing the dash
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=[
        "zip",
        "empty",
        "text",
        "bmp-too-short",
        "bmp-13-bytes",
        "riff-wave",
        "png-short",
        "jpeg-short",
        "bigtiff",
        "gif88a",
        "pdf-no-dash",
        "svg",
    ],
)
def test_sniff_rejects_non_matches(head: bytes) -> None:
    assert sniff(head) is None


def test_sniff_ignores_bytes_after_the_signature() -> None:
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"garbage" * 100) is media.PNG


def test_sniff_bytes_is_enough_for_every_signature() -> None:
    # WebP needs bytes 8..12 and BMP 14 bytes: the upload path reads SNIFF_BYTES.
    assert SNIFF_BYTES >= 14


@pytest.mark.parametrize(
    ("mime", "expected"),
    [
        ("image/png", media.PNG),
        ("image/jpeg", media.JPEG),
        ("image/tiff", media.TIFF),
        ("image/webp", media.WEBP),
        ("image/bmp", media.BMP),
        ("image/gif", media.GIF),
        ("application/pdf", media.PDF),
        ("application/zip", None),
        ("image/jpg", None),
        ("IMAGE/PNG", None),
        ("", None),
    ],
)
def test_by_mime(mime: str, expected: media.MediaType | None) -> None:
    assert by_mime(mime) is expected


@pytest.mark.parametrize("media_type", ACCEPTED, ids=[m.mime for m in ACCEPTED])
def test_by_mime_round_trips_every_accepted_type(media_type: media.MediaType) -> None:
    assert by_mime(media_type.mime) is media_type


@pytest.mark.parametrize(
    ("media_type", "extension", "raster"),
    [
        (media.PNG, "png", True),
        (media.JPEG, "jpg", True),
        (media.TIFF, "tif", True),
        (media.WEBP, "webp", True),
        (media.BMP, "bmp", True),
        (media.GIF, "gif", True),
        (media.PDF, "pdf", False),
    ],
)
def test_media_type_attributes(media_type: media.MediaType, extension: str, raster: bool) -> None:
    assert (media_type.extension, media_type.raster) == (extension, raster)
