"""Line images cut from ground-truth pages: what the recognizer trains and is tested on.

Coordinates in PAGE XML and ALTO refer to the pixels as stored, so page images are never
turned by their EXIF orientation here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shared.groundtruth.model import Box, GtLine, GtPage
from training.samples import LineSample

CROP_MODES = ("box", "polygon")
# The share of a crop's pixels, brightest first, whose median colour is taken as paper.
BACKGROUND_SHARE = 0.5


def crop_line(
    page_image: Image.Image, line: GtLine, mode: str = "polygon", pad: int = 4
) -> Image.Image:
    """The image of one line.

    Args:
        page_image: The whole page, in the coordinates of ``line``.
        line: The line to cut out.
        mode: ``"box"``, the line's box; or ``"polygon"``, the same box with everything
            outside the line's polygon painted the page's background colour, so that the
            neighbours' ascenders and descenders are gone (``"box"`` for a line without one).
        pad: Pixels added around the box on every side, within the page.

    Returns:
        The crop, in mode ``L`` for a greyscale page and ``RGB`` otherwise.

    Raises:
        ValueError: ``mode`` is not one of ``CROP_MODES``, or the box lies outside the image.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}; valid modes: {', '.join(CROP_MODES)}")
    box = padded_box(line.bbox, pad, page_image.size)
    crop = page_image.crop(box)
    if crop.mode not in ("L", "RGB"):
        crop = crop.convert("RGB")
    if mode == "box" or not line.polygon:
        return crop
    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).polygon([(x - box[0], y - box[1]) for x, y in line.polygon], fill=255)
    masked = Image.new(crop.mode, crop.size, background_colour(crop))
    masked.paste(crop, mask=mask)
    return masked


def padded_box(bbox: Box, pad: int, size: tuple[int, int]) -> Box:
    """``bbox`` grown by ``pad`` pixels on each side and clipped to an image of ``size``.

    Raises:
        ValueError: Nothing of the box is inside the image.
    """
    width, height = size
    x0, y0, x1, y1 = bbox
    box = (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"the box {bbox} lies outside the {width}x{height} image")
    return box


def background_colour(image: Image.Image) -> int | tuple[int, ...]:
    """The paper's colour: the median of the brightest ``BACKGROUND_SHARE`` of the pixels.

    Args:
        image: An ``L`` or ``RGB`` image.

    Returns:
        A grey level for ``L``, an ``(r, g, b)`` for ``RGB``.
    """
    pixels = np.asarray(image).reshape(image.width * image.height, -1)
    brightness = pixels.mean(axis=1)
    threshold = np.quantile(brightness, 1.0 - BACKGROUND_SHARE)
    colour = np.median(pixels[brightness >= threshold], axis=0).round().astype(int)
    values = tuple(int(v) for v in colour)
    return values[0] if image.mode == "L" else values


def line_samples(
    pages: Iterable[GtPage], mode: str = "polygon", pad: int = 4, root: Path | None = None
) -> Iterator[LineSample]:
    """Every line of every page as a sample, each page image opened once.

    Args:
        pages: Imported ground-truth pages.
        mode: How lines are cut (see ``crop_line``).
        pad: Pixels added around each line's box.
        root: The dataset's folder: ids are then relative to it, and so are the same (and the
            splits made from them) wherever the dataset lies.

    Yields:
        The lines' samples, page by page, lines in reading order, crops in ``RGB``.
    """
    for page in pages:
        with Image.open(page.image) as stored:
            image = stored.convert("RGB")
        identity = page_id(page.source, root)
        for line in page.lines:
            yield LineSample(
                image=crop_line(image, line, mode, pad), text=line.text, page_id=identity
            )


def page_id(source: Path, root: Path | None = None) -> str:
    """A page's id: its ground-truth file's path (relative to ``root`` if given), POSIX style."""
    if root is not None:
        return source.relative_to(root).as_posix()
    return source.as_posix()
