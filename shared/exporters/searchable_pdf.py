"""A job's searchable PDF: the uploaded pages as they are, an invisible text layer beneath.

The pages come from the stored upload, never from our renderings: a PDF keeps its own page
objects (content, boxes, ``/Rotate``), an image becomes a page that embeds its encoded bytes
(``shared.exporters.image_pages``). Each page that has recognized lines gets them as a Form
XObject drawn *before* the page's own content (``q cm /QuireOCR Do Q`` prepended), so the text
sits under the image, is invisible (render mode 3) and is mapped from page-image pixels to
the page through its visible box and rotation (``shared.exporters.pdf_geometry``).

The document is opened lazily by qpdf and written straight to a file: page images are read
from the source while saving, so memory holds the page objects and the text, not the images.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pikepdf
from pikepdf import Array, Dictionary, Name

from shared import media
from shared.errors import CorruptDocument, EncryptedDocument
from shared.exporters.glyphless_font import GlyphlessFont, flate_stream
from shared.exporters.image_pages import images_to_pdf
from shared.exporters.pdf_geometry import (
    Box,
    Matrix,
    PageFrame,
    normal_box,
    normal_rotation,
    pixel_scale,
    visible_box,
)
from shared.exporters.pdfa import PdfaVerdict, save_pdfa
from shared.exporters.text_layer import content_stream, page_runs, pdf_number
from shared.schemas import PageOut, ResultOut

LAYER_PREFIX = "/QuireOCR"
# Keep the upload's streams byte for byte: none decoded, none (re)compressed.
SAVE_OPTIONS = {"stream_decode_level": pikepdf.StreamDecodeLevel.none, "compress_streams": False}
Saved = TypeVar("Saved")


def write_searchable_pdf(
    source: Path, media_type: str, result: ResultOut, out: Path, *, pdfa: bool = False
) -> PdfaVerdict | None:
    """Write the searchable PDF of ``result`` over the upload at ``source`` to ``out``.

    Args:
        source: The uploaded file, as stored.
        media_type: Its sniffed MIME type (``shared.media``).
        result: The job's result; its pages are matched to the document's by index, and
            document pages with no result page (not split yet) are kept without text.
        out: Where the PDF goes (its folder also holds the intermediate image PDF).
        pdfa: Whether to make it PDF/A-2b.

    Returns:
        The PDF/A verdict when ``pdfa`` was asked, else None. An ``invalid`` verdict means
        the file written is a plain searchable PDF, without the PDF/A declaration.

    Raises:
        CorruptDocument, EncryptedDocument, CorruptImage: the upload cannot be read.
    """
    if not pdfa:
        _write(source, media_type, result, out, _save_plain)
        return None
    verdict = _write(source, media_type, result, out, save_pdfa)
    if verdict.status == "invalid":  # never claim PDF/A for a file a validator refused
        _write(source, media_type, result, out, _save_plain)
    return verdict


def _write(
    source: Path,
    media_type: str,
    result: ResultOut,
    out: Path,
    save: Callable[[pikepdf.Pdf, Path], Saved],
) -> Saved:
    with (
        tempfile.TemporaryDirectory(dir=out.parent) as work,
        _open_pages(source, media_type, Path(work)) as pdf,
    ):
        add_text_layer(pdf, result)
        try:
            return save(pdf, out)
        except pikepdf.PdfError as e:  # objects are read lazily: damage can show only now
            raise CorruptDocument(f"the PDF cannot be rewritten: {e}") from e


def _save_plain(pdf: pikepdf.Pdf, out: Path) -> None:
    pdf.save(out, **SAVE_OPTIONS)


def _open_pages(source: Path, media_type: str, work: Path) -> pikepdf.Pdf:
    """The upload as an open PDF: itself, or its image(s) wrapped by img2pdf into ``work``."""
    if media_type != media.PDF.mime:
        wrapped = work / "images.pdf"
        images_to_pdf(source, wrapped)
        source = wrapped
    try:
        return pikepdf.open(source)
    except pikepdf.PasswordError as e:
        raise EncryptedDocument("the PDF is password-protected") from e
    except pikepdf.PdfError as e:
        raise CorruptDocument(f"not a readable PDF: {e}") from e


def add_text_layer(pdf: pikepdf.Pdf, result: ResultOut) -> None:
    """Put every result page's lines under the matching page of ``pdf``, by index."""
    by_index = {page.index: page for page in result.pages}
    font = GlyphlessFont(pdf)
    for index, page in enumerate(pdf.pages):
        found = by_index.get(index)
        if found is not None and found.lines:
            graft_text(pdf, page, found, font)
    font.finish()


def page_frame(page: pikepdf.Page) -> PageFrame:
    """The page's visible box (CropBox within MediaBox) and rotation.

    Raises:
        CorruptDocument: the page has no usable MediaBox.
    """
    media_box = _rectangle(page.obj.get("/MediaBox"))
    if media_box is None:
        raise CorruptDocument("a page has no valid MediaBox")
    crop_box = _rectangle(page.obj.get("/CropBox"))
    rotate = page.obj.get("/Rotate", 0)
    return PageFrame(visible_box(media_box, crop_box), normal_rotation(float(rotate)))


def _rectangle(value: object) -> Box | None:
    if not isinstance(value, Array):
        return None
    try:
        return normal_box([float(v) for v in value])
    except (TypeError, ValueError):  # a rectangle holding something other than numbers
        return None


def graft_text(pdf: pikepdf.Pdf, page: pikepdf.Page, result: PageOut, font: GlyphlessFont) -> None:
    """Draw ``result``'s lines under ``page``'s content, invisibly; no lines, no change."""
    frame = page_frame(page)
    scale = pixel_scale(frame, result.width, result.height)
    if scale is None:
        return
    width, height = frame.size
    runs = page_runs(result.lines, scale, height)
    if not runs:
        return
    layer = flate_stream(
        pdf,
        content_stream(runs, font.resource_name, font.encode),
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=Array([0, 0, width, height]),
        Resources=font.resources,
    )
    name = _add_xobject(page, layer)
    draw = f"q {_matrix(frame.matrix())} cm {name} Do Q\n".encode("ascii")
    page.contents_add(pikepdf.Stream(pdf, draw), prepend=True)


def _add_xobject(page: pikepdf.Page, layer: pikepdf.Stream) -> str:
    """Name ``layer`` in the page's own XObject resources, under a name not yet used."""
    resources = _own_dictionary(page.obj.get("/Resources"))
    xobjects = _own_dictionary(resources.get("/XObject"))
    name, serial = LAYER_PREFIX, 0
    while name in xobjects:
        serial += 1
        name = f"{LAYER_PREFIX}{serial}"
    xobjects[name] = layer
    resources.XObject = xobjects
    page.obj.Resources = resources
    return name


def _own_dictionary(value: object) -> Dictionary:
    """``value`` if it is a dictionary of this page's own; a copy if it is an indirect one,
    which other pages may share (and would otherwise collect every page's layer)."""
    if not isinstance(value, Dictionary):
        return Dictionary()
    return Dictionary(dict(value.items())) if value.is_indirect else value


def _matrix(values: Matrix) -> str:
    return " ".join(pdf_number(v) for v in values)
