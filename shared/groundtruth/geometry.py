"""Line geometry as the formats write it, and as a ``GtLine`` holds it: points, clipping, boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shared.groundtruth.model import Box, Point

NO_BOX: Box = (0, 0, 0, 0)  # what a reader gives as ``GtLine.bbox`` when the file has no box
# A line known only by its baseline: the share of its height above the baseline.
ASCENT_SHARE = 0.75


def parse_points(value: str) -> tuple[Point, ...]:
    """The points of a PAGE ``points`` or ALTO ``POINTS`` attribute.

    Both ``"x,y x,y"`` (PAGE, some ALTO) and ``"x y x y"`` (ALTO) are read.

    Args:
        value: The attribute's text.

    Returns:
        The points, in order; empty for blank text.

    Raises:
        ValueError: A value is not a finite number, or there is an odd number of them.
    """
    numbers = [float(v) for v in value.replace(",", " ").split()]
    # One sum instead of a test per number: NaN or infinity anywhere makes it non-finite.
    if len(numbers) % 2 or not math.isfinite(sum(numbers)):
        raise ValueError(f"not a list of x y points: {value[:80]!r}")
    return tuple(zip(numbers[0::2], numbers[1::2], strict=True))


def clip_points(points: Sequence[Point], width: int, height: int) -> tuple[Point, ...]:
    """Each point moved to the nearest place on the page ``[0, width] x [0, height]``."""
    x0, y0, x1, y1 = bounds(points) if points else (0, 0, 0, 0)
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return tuple(points)
    return tuple((min(max(x, 0.0), width), min(max(y, 0.0), height)) for x, y in points)


def bounds(points: Sequence[Point]) -> Box:
    """The smallest whole-pixel box holding every point (``points`` must not be empty)."""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return (
        math.floor(min(xs)),
        math.floor(min(ys)),
        math.ceil(max(xs)),
        math.ceil(max(ys)),
    )


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` on the page (possibly empty: then ``x1 <= x0`` or ``y1 <= y0``)."""
    x0, y0, x1, y1 = box
    return (
        min(max(x0, 0), width),
        min(max(y0, 0), height),
        min(max(x1, 0), width),
        min(max(y1, 0), height),
    )


def baseline_box(baseline: Sequence[Point], line_height: float) -> Box:
    """The box of a line known by its baseline: ``line_height`` tall, mostly above the baseline.

    Args:
        baseline: The baseline's points, left to right (not empty).
        line_height: The height to give the line, in pixels.

    Returns:
        The baseline's bounds, raised by ``ASCENT_SHARE`` of the height and lowered by the rest.
    """
    x0, y0, x1, y1 = bounds(baseline)
    ascent = line_height * ASCENT_SHARE
    return (
        x0,
        math.floor(y0 - ascent),
        max(x1, x0 + 1),
        math.ceil(y1 + line_height - ascent),
    )


def has_area(box: Box) -> bool:
    """Whether the box covers at least one pixel."""
    x0, y0, x1, y1 = box
    return x1 > x0 and y1 > y0


def parse_dimension(value: str | None) -> int:
    """A declared page width or height in whole pixels; 0 when absent or not a positive number."""
    try:
        number = float(value) if value is not None else 0.0
    except ValueError:
        return 0
    return round(number) if math.isfinite(number) and number > 0 else 0
