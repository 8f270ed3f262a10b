"""Splitting PDFs and multi-frame TIFFs into pages; every input is built in code.

The builders (hand-written PDFs with any page size, rotation, content or RC4 security;
Pillow and hand-made TIFFs) live in ``tests/hostile_inputs.py``, shared with the chaos suite.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, TiffImagePlugin

from shared.errors import CorruptDocument, EncryptedDocument, ImageTooLarge, TooManyPages
from shared.settings import Settings
from tests.hostile_inputs import (
    RED_SQUARE,
    PdfPage,
    Security,
    fill,
    image_png,
    pdf_bytes,
    tiff_bytes,
    tiff_headers,
)
from worker.documents import (
    DocumentLimits,
    RenderedPage,
    count_pages,
    gray_if_neutral,
    iter_pages,
    page_mode,
    pdf_pixel_size,
)

PDF = "application/pdf"
TIFF = "image/tiff"
LIMITS = DocumentLimits(dpi=72, max_pages=50, max_pixels=10_000_000)


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def _write(data: bytes) -> Path:
        path = tmp_path / f"source-{len(list(tmp_path.iterdir()))}"
        path.write_bytes(data)
        return path

    return _write


def decoded(page: RenderedPage) -> Image.Image:
    with Image.open(io.BytesIO(page.png)) as image:
        assert image.format == "PNG"
        assert image.mode in ("L", "RGB")  # never alpha, never 1-bit or 16-bit
        image.load()
        return image


def center(page: RenderedPage) -> Any:
    image = decoded(page)
    return image.getpixel((image.width // 2, image.height // 2))


@pytest.fixture
def no_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to load or render a PDF page fails the test."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a page was loaded or rendered")

    monkeypatch.setattr(pdfium.PdfPage, "render", refuse)
    monkeypatch.setattr(pdfium.PdfDocument, "get_page", refuse)


# --- limits ------------------------------------------------------------------------------


def test_limits_from_settings() -> None:
    settings = Settings(pdf_dpi=150, max_document_pages=12, max_image_pixels=2_000_000)
    assert DocumentLimits.from_settings(settings) == DocumentLimits(150, 12, 2_000_000)


@pytest.mark.parametrize(
    ("width_pt", "height_pt", "dpi", "expected"),
    [
        (612, 792, 72, (612, 792)),  # US Letter at 1 px/pt
        (612, 792, 200, (1700, 2200)),
        (595.276, 841.89, 300, (2481, 3508)),  # A4: fractions round up
        (100, 50, 200, (278, 139)),
        (0.1, 0.1, 36, (1, 1)),
        (35000, 35000, 200, (97223, 97223)),
    ],
)
def test_pdf_pixel_size(
    width_pt: float, height_pt: float, dpi: int, expected: tuple[int, int]
) -> None:
    assert pdf_pixel_size(width_pt, height_pt, dpi) == expected


# --- PDF ---------------------------------------------------------------------------------

GRAYS = (0.0, 0.4, 0.8)


@pytest.fixture
def three_page_pdf(write: Callable[[bytes], Path]) -> Path:
    return write(pdf_bytes([PdfPage(100, 50, fill(g)) for g in GRAYS]))


def test_pdf_pages_come_in_order(three_page_pdf: Path) -> None:
    assert count_pages(three_page_pdf, PDF, LIMITS) == 3
    pages = list(iter_pages(three_page_pdf, PDF, LIMITS))
    assert [p.index for p in pages] == [0, 1, 2]
    for page, gray in zip(pages, GRAYS, strict=True):
        assert decoded(page).mode == "L"
        assert center(page) == pytest.approx(round(gray * 255), abs=1)


def test_pdf_colour_page_stays_rgb(write: Callable[[bytes], Path]) -> None:
    path = write(pdf_bytes([PdfPage(60, 60, RED_SQUARE), PdfPage(60, 60, fill(0.5))]))
    colour, gray = list(iter_pages(path, PDF, LIMITS))
    image = decoded(colour)
    assert image.mode == "RGB"
    assert image.getpixel((20, 40)) == (255, 0, 0)  # the square, 10..40 pt from the bottom
    assert image.getpixel((55, 5)) == (255, 255, 255)
    assert decoded(gray).mode == "L"


@pytest.mark.parametrize(
    ("page", "dpi", "expected"),
    [
        (PdfPage(100, 50), 72, (100, 50)),
        (PdfPage(100, 50), 144, (200, 100)),
        (PdfPage(100, 50), 200, (278, 139)),
        (PdfPage(100, 50, rotate=90), 144, (100, 200)),
        (PdfPage(612, 792), 36, (306, 396)),
    ],
)
def test_pdf_page_size_at_dpi(
    write: Callable[[bytes], Path], page: PdfPage, dpi: int, expected: tuple[int, int]
) -> None:
    path = write(pdf_bytes([page]))
    limits = DocumentLimits(dpi=dpi, max_pages=1, max_pixels=1_000_000)
    (rendered,) = iter_pages(path, PDF, limits)
    assert (rendered.width, rendered.height) == expected
    assert decoded(rendered).size == expected


def test_pdf_start_resumes_after_the_pages_done(three_page_pdf: Path) -> None:
    everything = list(iter_pages(three_page_pdf, PDF, LIMITS))
    resumed = list(iter_pages(three_page_pdf, PDF, LIMITS, start=1))
    assert resumed == everything[1:]
    assert list(iter_pages(three_page_pdf, PDF, LIMITS, start=3)) == []


def test_pdf_pages_are_rendered_and_freed_one_at_a_time(
    three_page_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_render, real_close = pdfium.PdfPage.render, pdfium.PdfPage.close

    def render(self: Any, *args: Any, **kwargs: Any) -> Any:
        events.append("render")
        return real_render(self, *args, **kwargs)

    def close(self: Any) -> Any:
        events.append("close")
        return real_close(self)

    monkeypatch.setattr(pdfium.PdfPage, "render", render)
    monkeypatch.setattr(pdfium.PdfPage, "close", close)
    pages = iter_pages(three_page_pdf, PDF, LIMITS)
    for done in range(1, 4):
        next(pages)
        assert events == ["render", "close"] * done  # page freed before it is handed over


def test_pdf_closing_the_iterator_closes_the_document(
    three_page_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[object] = []
    real_close = pdfium.PdfDocument.close

    def close(self: Any) -> Any:
        closed.append(self)
        return real_close(self)

    monkeypatch.setattr(pdfium.PdfDocument, "close", close)
    pages = iter_pages(three_page_pdf, PDF, LIMITS)
    next(pages)
    assert closed == []
    pages.close()  # type: ignore[attr-defined]
    assert len(closed) == 1


@pytest.mark.parametrize(("pages", "max_pages"), [(5, 5), (6, 5), (1, 1), (2, 1)])
def test_pdf_page_cap(
    write: Callable[[bytes], Path], no_rendering: None, pages: int, max_pages: int
) -> None:
    path = write(pdf_bytes([PdfPage(10, 10)] * pages))
    limits = DocumentLimits(dpi=72, max_pages=max_pages, max_pixels=1_000_000)
    if pages <= max_pages:
        assert count_pages(path, PDF, limits) == pages
        return
    with pytest.raises(TooManyPages, match=f"more than {max_pages} pages"):
        count_pages(path, PDF, limits)
    with pytest.raises(TooManyPages):
        next(iter_pages(path, PDF, limits))


def test_pdf_huge_page_is_refused_before_rendering(
    write: Callable[[bytes], Path], no_rendering: None
) -> None:
    path = write(pdf_bytes([PdfPage(612, 792), PdfPage(35000, 35000)]))
    limits = DocumentLimits(dpi=200, max_pages=10, max_pixels=100_000_000)
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"page 2 is 97223x97223 = 9452311729 pixels") as e:
        count_pages(path, PDF, limits)
    assert e.value.extra == {"max_pixels": 100_000_000, "page": 2}
    assert time.perf_counter() - started < 1.0


def test_pdf_huge_page_is_refused_by_iter_pages_too(write: Callable[[bytes], Path]) -> None:
    path = write(pdf_bytes([PdfPage(72, 72), PdfPage(35000, 35000)]))
    limits = DocumentLimits(dpi=200, max_pages=10, max_pixels=100_000_000)
    pages = iter_pages(path, PDF, limits)
    assert next(pages).width == 200
    with pytest.raises(ImageTooLarge, match="page 2"):
        next(pages)


def test_pdf_page_just_within_the_pixel_limit_renders(write: Callable[[bytes], Path]) -> None:
    path = write(pdf_bytes([PdfPage(100, 50)]))
    at_limit = DocumentLimits(dpi=144, max_pages=1, max_pixels=200 * 100)
    assert count_pages(path, PDF, at_limit) == 1
    below = DocumentLimits(dpi=144, max_pages=1, max_pixels=200 * 100 - 1)
    with pytest.raises(ImageTooLarge, match="page 1 is 200x100"):
        count_pages(path, PDF, below)


def test_pdf_page_without_a_media_box_area_is_letter_sized(
    write: Callable[[bytes], Path],
) -> None:
    """PDFium replaces an empty or inverted MediaBox, so such pages are never zero-sized."""
    path = write(pdf_bytes([PdfPage(0, 0), PdfPage(-100, -50)]))
    pages = list(iter_pages(path, PDF, LIMITS))
    assert [(p.width, p.height) for p in pages] == [(612, 792), (100, 50)]


@pytest.mark.parametrize(
    "size", [(0.0, 792.0), (612.0, -1.0), (float("nan"), 792.0), (612.0, float("inf"))]
)
def test_pdf_page_with_no_area_is_corrupt(
    three_page_pdf: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_rendering: None,
    size: tuple[float, float],
) -> None:
    monkeypatch.setattr(pdfium.PdfDocument, "get_page_size", lambda _self, _index: size)
    with pytest.raises(CorruptDocument, match="page 1 has no area"):
        count_pages(three_page_pdf, PDF, LIMITS)
    with pytest.raises(CorruptDocument, match="page 1 has no area"):
        next(iter_pages(three_page_pdf, PDF, LIMITS))


def corrupt_pdfs() -> dict[str, bytes]:
    good = pdf_bytes([PdfPage(100, 100, fill(0.5))] * 2)
    return {
        "random bytes after a PDF header": b"%PDF-1.7\n" + random.Random(1).randbytes(4096),
        "truncated to half": good[: len(good) // 2],
        "trailer cut off": good[: good.rindex(b"trailer")],
        "no pages": pdf_bytes([]),
        "empty file": b"",
        "a TIFF": tiff_bytes([Image.new("L", (8, 8))]),
    }


@pytest.mark.parametrize("name", sorted(corrupt_pdfs()))
def test_corrupt_pdf(write: Callable[[bytes], Path], no_rendering: None, name: str) -> None:
    path = write(corrupt_pdfs()[name])
    with pytest.raises(CorruptDocument) as e:
        count_pages(path, PDF, LIMITS)
    assert isinstance(e.value.__cause__, pdfium.PdfiumError)
    with pytest.raises(CorruptDocument):
        next(iter_pages(path, PDF, LIMITS))


def test_encrypted_pdf_fixture_is_really_encrypted() -> None:
    data = pdf_bytes([PdfPage(60, 60, RED_SQUARE)], Security(b"secret", b"owner"))
    assert b"1 0 0 rg" not in data  # the content stream is ciphertext
    with pdfium.PdfDocument(data, password="secret") as pdf:
        bitmap = pdf[0].render(rev_byteorder=True)
        assert bitmap.to_pil().getpixel((20, 40)) == (255, 0, 0)


def test_password_protected_pdf(write: Callable[[bytes], Path], no_rendering: None) -> None:
    path = write(pdf_bytes([PdfPage(60, 60, RED_SQUARE)], Security(b"secret", b"owner")))
    with pytest.raises(EncryptedDocument, match="password") as e:
        count_pages(path, PDF, LIMITS)
    assert e.value.__cause__.err_code == pdfium.raw.FPDF_ERR_PASSWORD  # type: ignore[union-attr]
    with pytest.raises(EncryptedDocument):
        next(iter_pages(path, PDF, LIMITS))


def test_pdf_encrypted_with_an_empty_user_password_opens(write: Callable[[bytes], Path]) -> None:
    """Owner-only protection (print or copy restrictions) does not stop reading."""
    path = write(pdf_bytes([PdfPage(60, 60, RED_SQUARE)], Security(b"", b"owner")))
    assert count_pages(path, PDF, LIMITS) == 1
    (page,) = iter_pages(path, PDF, LIMITS)
    assert decoded(page).getpixel((20, 40)) == (255, 0, 0)


# --- TIFF --------------------------------------------------------------------------------

LEVELS = (0, 90, 180, 255)


def test_tiff_frames_come_in_order(write: Callable[[bytes], Path]) -> None:
    frames = [Image.new("L", (40, 30), level) for level in LEVELS]
    path = write(tiff_bytes(frames, compression="tiff_lzw"))
    assert count_pages(path, TIFF, LIMITS) == 4
    pages = list(iter_pages(path, TIFF, LIMITS))
    assert [p.index for p in pages] == [0, 1, 2, 3]
    assert [center(p) for p in pages] == list(LEVELS)
    assert all((p.width, p.height) == (40, 30) for p in pages)


def test_tiff_start_resumes(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_bytes([Image.new("L", (10, 10), level) for level in LEVELS]))
    everything = list(iter_pages(path, TIFF, LIMITS))
    assert list(iter_pages(path, TIFF, LIMITS, start=2)) == everything[2:]
    assert list(iter_pages(path, TIFF, LIMITS, start=9)) == []


def shapes(mode: str, left: int = 0) -> Image.Image:
    """A frame whose left half is ``left`` and right half the opposite, in ``mode``."""
    image = Image.new("L", (20, 10), 255 - left)
    image.paste(left, (0, 0, 10, 10))
    if mode == "I;16":  # full 16-bit range, not 0..255
        return Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    return image.convert(mode)


@pytest.mark.parametrize(
    ("mode", "compression"),
    [
        ("1", None),
        ("1", "group4"),
        ("1", "packbits"),
        ("L", None),
        ("L", "tiff_deflate"),
        ("RGB", "tiff_lzw"),  # neutral colours only: stored as gray
        ("P", None),
        ("CMYK", None),
        ("I;16", None),
    ],
)
def test_tiff_gray_frames(
    write: Callable[[bytes], Path], mode: str, compression: str | None
) -> None:
    frames = [shapes(mode, left=0), shapes(mode, left=255)]
    path = write(tiff_bytes(frames, compression=compression))
    pages = [decoded(page) for page in iter_pages(path, TIFF, LIMITS)]
    assert [image.mode for image in pages] == ["L", "L"]
    assert [(image.getpixel((2, 5)), image.getpixel((17, 5))) for image in pages] == [
        (0, 255),
        (255, 0),
    ]


def test_tiff_colour_frame_stays_rgb(write: Callable[[bytes], Path]) -> None:
    frames = [shapes("L"), Image.new("RGB", (5, 5), "blue"), Image.new("RGBA", (5, 5))]
    gray, colour, transparent = list(iter_pages(write(tiff_bytes(frames)), TIFF, LIMITS))
    assert decoded(gray).mode == "L"
    assert decoded(colour).mode == "RGB"
    assert decoded(colour).getpixel((2, 2)) == (0, 0, 255)
    assert decoded(transparent).mode == "L"  # white paper: no colour left
    assert center(transparent) == 255


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "packbits"])
def test_tiff_orientation_is_applied(write: Callable[[bytes], Path], compression: str) -> None:
    frames = [shapes("L"), shapes("L")]
    orientation = {274: 6}  # rotate 90 degrees clockwise to display
    path = write(tiff_bytes(frames, tiffinfo=orientation, compression=compression))
    for page in iter_pages(path, TIFF, LIMITS):
        image = decoded(page)
        assert (page.width, page.height) == image.size == (10, 20)
        assert (image.getpixel((5, 2)), image.getpixel((5, 17))) == (0, 255)


def test_tiff_with_thousands_of_frames_is_refused_fast(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_headers([(1, 1)] * 5000))
    limits = DocumentLimits(dpi=200, max_pages=1000, max_pixels=100_000_000)
    started = time.perf_counter()
    with pytest.raises(TooManyPages, match="more than 1000 pages"):
        count_pages(path, TIFF, limits)
    assert time.perf_counter() - started < 1.0


def test_tiff_frame_count_stops_past_the_cap(
    write: Callable[[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    seeks: list[int] = []
    real_seek = TiffImagePlugin.TiffImageFile.seek

    def seek(self: Any, frame: int) -> None:
        seeks.append(frame)
        real_seek(self, frame)

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "seek", seek)
    path = write(tiff_headers([(1, 1)] * 3000))
    with pytest.raises(TooManyPages):
        count_pages(path, TIFF, DocumentLimits(dpi=72, max_pages=10, max_pixels=100))
    assert max(seeks) == 10  # the eleventh frame proves there are too many; no further


def test_tiff_frame_cap_is_exact(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_headers([(2, 2)] * 30))
    assert count_pages(path, TIFF, DocumentLimits(72, 30, 100)) == 30
    with pytest.raises(TooManyPages):
        count_pages(path, TIFF, DocumentLimits(72, 29, 100))


def test_tiff_iter_pages_stops_at_the_cap(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_headers([(2, 2)] * 5))
    pages = iter_pages(path, TIFF, DocumentLimits(72, 3, 100))
    assert [next(pages).index for _ in range(3)] == [0, 1, 2]
    with pytest.raises(TooManyPages):
        next(pages)


def test_tiff_large_frame_is_refused_from_its_header(write: Callable[[bytes], Path]) -> None:
    # Frame 2 declares 20000 x 20000 pixels but has 16 bytes of data: decoding would fail.
    path = write(tiff_headers([(4, 4), (20000, 20000), (4, 4)]))
    limits = DocumentLimits(dpi=72, max_pages=10, max_pixels=100_000_000)
    with pytest.raises(ImageTooLarge, match=r"page 2 is 20000x20000 = 400000000 pixels") as e:
        count_pages(path, TIFF, limits)
    assert e.value.extra["page"] == 2
    pages = iter_pages(path, TIFF, limits)
    assert next(pages).index == 0
    with pytest.raises(ImageTooLarge, match="page 2"):
        next(pages)


def test_tiff_first_frame_over_pillows_bomb_limit(
    write: Callable[[bytes], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2000
    path = write(tiff_headers([(100, 100)]))
    with pytest.raises(ImageTooLarge, match="page 1"):
        count_pages(path, TIFF, LIMITS)


def test_tiff_handmade_fixture_decodes(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_headers([(3, 2)] * 2, gray=77))
    pages = list(iter_pages(path, TIFF, LIMITS))
    assert [(p.width, p.height, center(p)) for p in pages] == [(3, 2, 77)] * 2


def corrupt_tiffs() -> dict[str, bytes]:
    good = tiff_headers([(64, 64)] * 3)
    return {
        "random bytes after a TIFF header": b"II*\x00" + random.Random(2).randbytes(4096),
        "header only": good[:8],
        "IFD cut in half": good[: 8 + 64 * 64 + 50],
        "empty file": b"",
        "a PDF": pdf_bytes([PdfPage(10, 10)]),
        "a PNG": image_png(Image.new("L", (4, 4))),
    }


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("name", sorted(corrupt_tiffs()))
def test_corrupt_tiff(write: Callable[[bytes], Path], name: str) -> None:
    path = write(corrupt_tiffs()[name])
    with pytest.raises(CorruptDocument):
        count_pages(path, TIFF, LIMITS)
    with pytest.raises(CorruptDocument):
        list(iter_pages(path, TIFF, LIMITS))


def test_tiff_with_truncated_pixels_fails_on_that_page(write: Callable[[bytes], Path]) -> None:
    frames = [Image.new("L", (64, 64), 10), Image.new("L", (64, 64), 20)]
    data = tiff_bytes(frames)  # Pillow writes each frame's strip before its IFD
    second_strip = data.rindex(bytes([20]) * 64 * 64)
    damaged = data[:second_strip] + bytes([20]) * 10 + data[second_strip + 64 * 64 :]
    path = write(damaged)
    pages = iter_pages(path, TIFF, LIMITS)
    assert center(next(pages)) == 10
    with pytest.raises(CorruptDocument, match="page 2"):
        next(pages)


def test_tiff_zero_sized_frame_is_corrupt(write: Callable[[bytes], Path]) -> None:
    path = write(tiff_headers([(4, 4), (0, 4)]))
    with pytest.raises(CorruptDocument):
        count_pages(path, TIFF, LIMITS)


# --- arguments and pixels ----------------------------------------------------------------


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg", "text/plain", ""])
def test_other_types_are_not_documents(write: Callable[[bytes], Path], mime: str) -> None:
    path = write(b"")
    with pytest.raises(ValueError, match="not a multi-page document"):
        count_pages(path, mime, LIMITS)
    with pytest.raises(ValueError, match="not a multi-page document"):
        iter_pages(path, mime, LIMITS)


def test_negative_start_is_refused(three_page_pdf: Path) -> None:
    with pytest.raises(ValueError, match="start"):
        iter_pages(three_page_pdf, PDF, LIMITS, start=-1)


@pytest.mark.parametrize(
    ("image", "mode", "pixel"),
    [
        (Image.new("1", (2, 2), 1), "L", 255),
        (Image.new("L", (2, 2), 7), "L", 7),
        (Image.new("LA", (2, 2), (0, 0)), "L", 255),  # transparent: white paper
        (Image.new("LA", (2, 2), (0, 255)), "L", 0),
        (Image.new("RGBA", (2, 2), (255, 0, 0, 0)), "RGB", (255, 255, 255)),
        (Image.new("RGBA", (2, 2), (255, 0, 0, 255)), "RGB", (255, 0, 0)),
        (Image.new("P", (2, 2), 0), "RGB", (0, 0, 0)),
        (Image.new("CMYK", (2, 2), (0, 255, 255, 0)), "RGB", (255, 0, 0)),
        (Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16)), "L", 255),
        (Image.new("F", (2, 2), 0.0), "L", 0),
    ],
)
def test_page_mode(image: Image.Image, mode: str, pixel: Any) -> None:
    result = page_mode(image)
    assert result.mode == mode
    assert result.getpixel((1, 1)) == pixel


@pytest.mark.parametrize(
    ("colour", "mode"),
    [((10, 10, 10), "L"), ((10, 10, 11), "RGB"), ((11, 10, 10), "RGB"), ((0, 0, 0), "L")],
)
def test_gray_if_neutral(colour: tuple[int, int, int], mode: str) -> None:
    image = Image.new("RGB", (3, 3), (255, 255, 255))
    image.putpixel((2, 2), colour)
    result = gray_if_neutral(image)
    assert result.mode == mode
    assert np.asarray(result.convert("RGB"))[2, 2].tolist() == list(colour)
