"""An uploaded image (or multi-frame TIFF) as PDF pages that keep its encoded bytes.

img2pdf embeds JPEG, JPEG 2000, PNG and CCITT G4 TIFF data as it is (``/DCTDecode``,
``/JPXDecode``, Flate with the PNG predictor, ``/CCITTFaxDecode``) and other images losslessly
(Flate); an EXIF rotation becomes the page's ``/Rotate``. Only an image img2pdf cannot take,
or one whose EXIF orientation mirrors it (the OCR saw it mirrored back), is decoded, turned
upright and embedded as a lossless PNG, so its pixels still match the page the OCR read.

img2pdf holds the image's pages in memory while it writes them: memory follows the file's
size (``QUIRE_MAX_UPLOAD_MB``, or ``QUIRE_ARCHIVE_MAX_MEMBER_MB`` for a batch member), which
matters for a multi-frame TIFF only; a PDF's pages are read from disk as they are written.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import img2pdf
from PIL import Image, ImageOps, ImageSequence

from shared.errors import CorruptImage

log = logging.getLogger("quire.exporters")

DEFAULT_DPI = 300.0  # a scan with no credible resolution of its own
CREDIBLE_DPI = (100.0, 2400.0)
MIRRORING_ORIENTATIONS = (2, 4, 5, 7)  # EXIF orientations /Rotate cannot express
_EXIF_ORIENTATION = 274
_IMG2PDF_ERRORS = (img2pdf.ImageOpenError, img2pdf.AlphaChannelError, ValueError, OSError)
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def credible_dpi(dpi: object) -> tuple[float, float]:
    """The image's (x, y) resolution if both are plausible for a scan, else ``DEFAULT_DPI``.

    Args:
        dpi: Pillow's ``info["dpi"]``: a pair of numbers, or None when the file has none.
    """
    low, high = CREDIBLE_DPI
    if isinstance(dpi, tuple) and len(dpi) == 2:
        try:
            x, y = float(dpi[0]), float(dpi[1])
        except (TypeError, ValueError):
            return DEFAULT_DPI, DEFAULT_DPI
        if low <= x <= high and low <= y <= high:
            return x, y
    return DEFAULT_DPI, DEFAULT_DPI


def images_to_pdf(source: Path, out: Path) -> None:
    """Write the image at ``source`` to ``out`` as a PDF, one page per frame.

    Raises:
        CorruptImage: neither img2pdf nor Pillow can read the image.
    """
    data = source.read_bytes()
    dpi, mirrored = _inspect(data)
    layout = img2pdf.get_fixed_dpi_layout_fun(dpi)
    if not mirrored:
        try:
            _convert([data], out, layout)
            return
        except _IMG2PDF_ERRORS as e:
            log.info("img2pdf refused the image (%s); embedding it as lossless PNG", e)
    _convert(_upright_pngs(data), out, layout)


def _convert(images: list[bytes], out: Path, layout: Callable[..., object]) -> None:
    with out.open("wb") as stream:
        img2pdf.convert(
            *images, outputstream=stream, layout_fun=layout, rotation=img2pdf.Rotation.ifvalid
        )


def _inspect(data: bytes) -> tuple[tuple[float, float], bool]:
    """The first frame's resolution, and whether its EXIF orientation mirrors it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            return credible_dpi(image.info.get("dpi")), orientation in MIRRORING_ORIENTATIONS
    except _PILLOW_ERRORS as e:
        raise CorruptImage(f"the image cannot be read: {e}") from e


def _upright_pngs(data: bytes) -> list[bytes]:
    """Every frame turned upright per EXIF, transparency on white, as PNG."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return [
                _png(ImageOps.exif_transpose(frame) or frame)
                for frame in ImageSequence.Iterator(image)
            ]
    except _PILLOW_ERRORS as e:
        raise CorruptImage(f"the image cannot be decoded: {e}") from e


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    _flatten(image).save(out, "PNG")
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """``image`` as 1, L or RGB, transparency composed over white."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.has_transparency_data:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")
