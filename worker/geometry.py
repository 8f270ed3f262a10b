"""Pure geometry of line boxes: bounding boxes and crops."""

from __future__ import annotations

import cv2
import numpy as np


def bbox_of(quad: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Axis-aligned ``(x0, y0, x1, y1)`` around a polygon, clipped to the page."""
    xs, ys = quad[:, 0], quad[:, 1]
    x0 = int(np.clip(np.floor(xs.min()), 0, width))
    y0 = int(np.clip(np.floor(ys.min()), 0, height))
    x1 = int(np.clip(np.ceil(xs.max()), 0, width))
    y1 = int(np.clip(np.ceil(ys.max()), 0, height))
    return x0, y0, x1, y1


def crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quadrilateral (clockwise from top-left) warped to an upright rectangle.

    Tall results are rotated a quarter turn, since text lines are wider than high.
    """
    points = quad.astype(np.float32)
    edges = np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1)  # top, right, ...
    width = int(np.rint(max(edges[0], edges[2])))
    height = int(np.rint(max(edges[1], edges[3])))
    if width < 1 or height < 1:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(points, target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    if height / width >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)
