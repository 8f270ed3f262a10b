"""Split a PDF or a multi-frame TIFF into page images, one page at a time.

``count_pages`` refuses a document before anything is rendered: unreadable, encrypted, too
many pages, or a page with too many pixels. ``iter_pages`` then renders and PNG-encodes one
page at a time, so memory does not grow with the page count, and can resume from a page
index after a crash. Only ``application/pdf`` and ``image/tiff`` are documents; other raster
types are single page images handled elsewhere, and passing one is a ``ValueError``.

PDFium is not thread-safe: use these functions from one thread per process (Celery prefork).
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageChops

from shared import media
from shared.errors import CorruptDocument, EncryptedDocument, ImageTooLarge, TooManyPages
from shared.settings import Settings
from worker.images import HIGH_DEPTH_MODES, to_rgb

POINTS_PER_INCH = 72
# Fast PNG encoding: pages are transient inputs to OCR, CPU time matters more than bytes.
PNG_COMPRESS_LEVEL = 1
PDF_LOCKED = (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY)
# What Pillow raises on damaged TIFF data (found by fuzzing): headers, IFDs, strips.
PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    TypeError,
    LookupError,
    ArithmeticError,
    struct.error,
)
BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


@dataclass(frozen=True)
class DocumentLimits:
    """What a document may contain; see ``Settings.pdf_dpi`` and the limits beside it."""

    dpi: int
    max_pages: int
    max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        """The limits configured for this process."""
        return cls(settings.pdf_dpi, settings.max_document_pages, settings.max_image_pixels)


@dataclass(frozen=True)
class RenderedPage:
    """One page as PNG: mode L for gray pages, RGB for colour ones, never alpha."""

    index: int  # 0-based
    png: bytes
    width: int
    height: int


def count_pages(path: Path, mime: str, limits: DocumentLimits) -> int:
    """Number of pages of a PDF or TIFF, after checking every page against the limits.

    Nothing is rendered or decoded: PDF page sizes come from the page dictionaries, TIFF
    frame sizes from their IFDs, and counting TIFF frames stops once past the cap.

    Raises:
        CorruptDocument: the file is not a readable PDF or TIFF, or a page has no area.
        EncryptedDocument: the PDF needs a password.
        TooManyPages: more than ``limits.max_pages`` pages.
        ImageTooLarge: a page has more than ``limits.max_pixels`` pixels (PDF: at
            ``limits.dpi``); the message names the 1-based page and its size.
        ValueError: ``mime`` is neither PDF nor TIFF.
    """
    if _is_pdf(mime):
        return _count_pdf_pages(path, limits)
    with _open_tiff(path) as image:
        sizes = [image.size for _ in _frames(image, limits.max_pages + 1)]
    _check_page_count(len(sizes), limits.max_pages)
    for index, size in enumerate(sizes):
        _check_page_size(index, size, limits.max_pixels)
    return len(sizes)


def iter_pages(
    path: Path, mime: str, limits: DocumentLimits, start: int = 0
) -> Iterator[RenderedPage]:
    """Render the pages from ``start`` (0-based) on, one at a time, as PNG.

    Each page is checked against the limits before it is rendered; a PDF page's PDFium
    objects are freed before it is yielded, and a TIFF frame's pixels are replaced by the
    next frame's, so memory holds one page whatever the page count. The file stays open
    until the iterator is exhausted or closed.

    Raises:
        CorruptDocument, EncryptedDocument, TooManyPages, ImageTooLarge: as ``count_pages``,
            and CorruptDocument for a page whose content cannot be decoded.
        ValueError: ``mime`` is neither PDF nor TIFF, or ``start`` is negative.
    """
    if start < 0:
        raise ValueError(f"start must be >= 0, not {start}")
    if _is_pdf(mime):
        return _iter_pdf_pages(path, limits, start)
    return _iter_tiff_pages(path, limits, start)


def pdf_pixel_size(width_pt: float, height_pt: float, dpi: int) -> tuple[int, int]:
    """Pixel size of a page of this size in points at ``dpi``, rounded up as PDFium does."""
    scale = dpi / POINTS_PER_INCH
    return math.ceil(width_pt * scale), math.ceil(height_pt * scale)


def _is_pdf(mime: str) -> bool:
    if mime == media.PDF.mime:
        return True
    if mime == media.TIFF.mime:
        return False
    raise ValueError(f"{mime} is not a multi-page document type")


def _check_page_count(count: int, max_pages: int) -> None:
    if count > max_pages:
        raise TooManyPages(
            f"the document has more than {max_pages} pages; the limit is {max_pages}",
            max_pages=max_pages,
        )


def _check_page_size(index: int, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptDocument(f"page {index + 1} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"page {index + 1} is {width}x{height} = {width * height} pixels; "
            f"the limit is {max_pixels}",
            max_pixels=max_pixels,
            page=index + 1,
        )


# --- PDF ---------------------------------------------------------------------------------


def _open_pdf(path: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        if e.err_code in PDF_LOCKED:
            raise EncryptedDocument("the PDF is password-protected") from e
        raise CorruptDocument(f"not a readable PDF: {e}") from e


def _pdf_page_size(pdf: pdfium.PdfDocument, index: int, dpi: int) -> tuple[int, int]:
    try:
        width_pt, height_pt = pdf.get_page_size(index)
    except pdfium.PdfiumError as e:
        raise CorruptDocument(f"page {index + 1} cannot be read: {e}") from e
    if not all(math.isfinite(side) and side > 0 for side in (width_pt, height_pt)):
        raise CorruptDocument(f"page {index + 1} has no area ({width_pt} x {height_pt} pt)")
    return pdf_pixel_size(width_pt, height_pt, dpi)


def _count_pdf_pages(path: Path, limits: DocumentLimits) -> int:
    with _open_pdf(path) as pdf:
        total = len(pdf)
        _check_page_count(total, limits.max_pages)
        for index in range(total):
            size = _pdf_page_size(pdf, index, limits.dpi)
            _check_page_size(index, size, limits.max_pixels)
    return total


def _iter_pdf_pages(path: Path, limits: DocumentLimits, start: int) -> Iterator[RenderedPage]:
    with _open_pdf(path) as pdf:
        total = len(pdf)
        _check_page_count(total, limits.max_pages)
        for index in range(start, total):
            _check_page_size(index, _pdf_page_size(pdf, index, limits.dpi), limits.max_pixels)
            yield _render_pdf_page(pdf, index, limits.dpi)


def _render_pdf_page(pdf: pdfium.PdfDocument, index: int, dpi: int) -> RenderedPage:
    try:
        page = pdf[index]
    except pdfium.PdfiumError as e:
        raise CorruptDocument(f"page {index + 1} cannot be loaded: {e}") from e
    try:
        bitmap = page.render(scale=dpi / POINTS_PER_INCH, rev_byteorder=True)
        try:
            # Encode before closing: the PIL image may share the bitmap's buffer.
            return _encode(index, gray_if_neutral(bitmap.to_pil()))
        finally:
            bitmap.close()
    except pdfium.PdfiumError as e:
        raise CorruptDocument(f"page {index + 1} cannot be rendered: {e}") from e
    finally:
        page.close()


# --- TIFF --------------------------------------------------------------------------------


@contextmanager
def _open_tiff(path: Path) -> Iterator[Image.Image]:
    # Opened from a file object, not a path: Pillow's memory-mapped reading of uncompressed
    # frames ignores a 90-degree TIFF Orientation and scrambles the pixels (Pillow 13).
    with path.open("rb") as file:
        try:
            image = Image.open(file, formats=["TIFF"])
        except BOMB_ERRORS as e:
            raise ImageTooLarge(f"page 1: {e}", page=1) from e
        except PILLOW_ERRORS as e:
            raise CorruptDocument(f"not a readable TIFF: {e}") from e
        with image:
            yield image


def _frames(image: Image.Image, limit: int) -> Iterator[int]:
    """Seek to each frame in turn (its IFD only, no pixels), at most ``limit`` frames."""
    for index in range(limit):
        try:
            image.seek(index)
        except EOFError:
            return
        except PILLOW_ERRORS as e:
            raise CorruptDocument(f"page {index + 1} of the TIFF cannot be read: {e}") from e
        yield index


def _iter_tiff_pages(path: Path, limits: DocumentLimits, start: int) -> Iterator[RenderedPage]:
    with _open_tiff(path) as image:
        for index in _frames(image, limits.max_pages + 1):
            _check_page_count(index + 1, limits.max_pages)
            if index >= start:
                _check_page_size(index, image.size, limits.max_pixels)
                yield _encode(index, _decode_frame(image, index))


def _decode_frame(image: Image.Image, index: int) -> Image.Image:
    """The current frame, upright (Pillow applies the TIFF orientation), as L or RGB."""
    try:
        image.load()
        return gray_if_neutral(page_mode(image))
    except BOMB_ERRORS as e:
        raise ImageTooLarge(f"page {index + 1}: {e}", page=index + 1) from e
    except PILLOW_ERRORS as e:
        raise CorruptDocument(f"page {index + 1} cannot be decoded: {e}") from e


# --- pixels ------------------------------------------------------------------------------


def page_mode(image: Image.Image) -> Image.Image:
    """The image as 8-bit L (gray and bilevel modes) or RGB, transparency flattened on white.

    16-bit and float scans are scaled down as ``worker.images.to_rgb`` does.
    """
    if image.mode in HIGH_DEPTH_MODES:
        return Image.fromarray(np.ascontiguousarray(to_rgb(image)[:, :, 0]))
    target = "L" if image.mode in ("1", "L", "LA", "La") else "RGB"
    if image.has_transparency_data:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image if image.mode == target else image.convert(target)


def gray_if_neutral(image: Image.Image) -> Image.Image:
    """An RGB image whose pixels all have R == G == B as mode L; any other image as is."""
    if image.mode != "RGB":
        return image
    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() or ImageChops.difference(green, blue).getbbox():
        return image
    return red


def _encode(index: int, image: Image.Image) -> RenderedPage:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return RenderedPage(index, buffer.getvalue(), image.width, image.height)
