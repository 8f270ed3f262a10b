"""Cheap on-the-fly augmentation of line arrays (ink bright, 0..255 uint8, fixed height).

Each transform keeps the height and is what scans of real hands vary in: slant, width,
stroke weight, blur, contrast and noise.
"""

from __future__ import annotations

import cv2
import numpy as np


def augment_line(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A randomly varied copy of ``line`` (H x W uint8, ink bright)."""
    out = line
    if rng.random() < 0.5:
        out = _shear(out, rng.uniform(-0.35, 0.35))
    if rng.random() < 0.5:
        out = _stretch(out, rng.uniform(0.8, 1.25))
    if rng.random() < 0.3:
        out = _stroke(out, rng)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:
        out = _contrast_noise(out, rng)
    return out


def _shear(line: np.ndarray, slope: float) -> np.ndarray:
    """x' = x + slope * (y - h/2), widened so no ink leaves the line."""
    h, w = line.shape
    pad = int(abs(slope) * h) + 1
    matrix = np.array([[1, slope, pad / 2 - slope * h / 2], [0, 1, 0]], dtype=np.float32)
    return cv2.warpAffine(line, matrix, (w + pad, h), borderValue=0)


def _stretch(line: np.ndarray, factor: float) -> np.ndarray:
    h, w = line.shape
    return cv2.resize(line, (max(8, round(w * factor)), h), interpolation=cv2.INTER_LINEAR)


def _stroke(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    kernel = np.ones((2, 2), np.uint8)
    return cv2.dilate(line, kernel) if rng.random() < 0.5 else cv2.erode(line, kernel)


def _contrast_noise(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scaled = line.astype(np.float32) * rng.uniform(0.6, 1.1) + rng.uniform(0, 40)
    scaled += rng.normal(0, rng.uniform(2, 12), line.shape)
    return np.clip(scaled, 0, 255).astype(np.uint8)
