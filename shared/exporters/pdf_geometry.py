"""Where a result's page pixels land on a PDF page: visible box, ``/Rotate`` and scale.

A page image is the page as a viewer shows it: the visible box (CropBox within MediaBox),
turned by ``/Rotate``, origin top left, y down. The text layer is drawn in *display space*
(points, origin bottom left of the page as shown, y up) and one matrix takes display space to
the page's user space, whatever its rotation and box origin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF user space, points
Matrix = tuple[float, float, float, float, float, float]  # a b c d e f, as ``cm`` takes it


@dataclass(frozen=True)
class PageFrame:
    """A page's visible box in user space and its clockwise rotation (0, 90, 180, 270)."""

    box: Box
    rotate: int

    @property
    def size(self) -> tuple[float, float]:
        """Width and height in points of the page as shown (after ``/Rotate``)."""
        x0, y0, x1, y1 = self.box
        width, height = x1 - x0, y1 - y0
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def matrix(self) -> Matrix:
        """The ``cm`` matrix from display space to the page's user space."""
        x0, y0, x1, y1 = self.box
        if self.rotate == 90:
            return (0.0, 1.0, -1.0, 0.0, x1, y0)
        if self.rotate == 180:
            return (-1.0, 0.0, 0.0, -1.0, x1, y1)
        if self.rotate == 270:
            return (0.0, -1.0, 1.0, 0.0, x0, y1)
        return (1.0, 0.0, 0.0, 1.0, x0, y0)


def normal_box(values: Sequence[float]) -> Box | None:
    """A PDF rectangle with its corners in order; None when it is not four finite numbers."""
    if len(values) != 4:
        return None
    a, b, c, d = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (a, b, c, d)):
        return None
    return min(a, c), min(b, d), max(a, c), max(b, d)


def visible_box(media_box: Box, crop_box: Box | None) -> Box:
    """The CropBox clipped to the MediaBox, as PDFium renders; the MediaBox when they miss."""
    if crop_box is None:
        return media_box
    box = (
        max(media_box[0], crop_box[0]),
        max(media_box[1], crop_box[1]),
        min(media_box[2], crop_box[2]),
        min(media_box[3], crop_box[3]),
    )
    return box if box[2] > box[0] and box[3] > box[1] else media_box


def normal_rotation(value: float) -> int:
    """``/Rotate`` as 0, 90, 180 or 270; a value that is not a multiple of 90 counts as 0."""
    if not math.isfinite(value) or value % 90:
        return 0
    return int(value) % 360


def pixel_scale(
    frame: PageFrame, width_px: int | None, height_px: int | None
) -> tuple[float, float] | None:
    """Points per pixel across and down, from the page image's size; None without a size."""
    if not width_px or not height_px or width_px <= 0 or height_px <= 0:
        return None
    width_pt, height_pt = frame.size
    return width_pt / width_px, height_pt / height_px
