"""Fake engine parts for tests: deterministic, instant, with fault injection."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worker.engines.base import DetectedLine, Image, OcrEngine, Recognition


class StripeDetector:
    """Finds one line per horizontal stripe of non-white rows."""

    name = "fake-det"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        self.calls.append(len(pages))
        return [self._stripes(page) for page in pages]

    @staticmethod
    def _stripes(page: Image) -> list[DetectedLine]:
        dark = (page.min(axis=2) < 128).any(axis=1)
        lines, start = [], None
        for y, is_dark in enumerate([*dark.tolist(), False]):
            if is_dark and start is None:
                start = y
            elif not is_dark and start is not None:
                w = page.shape[1]
                quad = np.array([[0, start], [w, start], [w, y], [0, y]], dtype=np.float32)
                lines.append(DetectedLine(quad, 1.0))
                start = None
        return lines


class SizeRecognizer:
    """'Reads' a crop as its size; raises for crops of a poisoned height."""

    name = "fake-rec"

    def __init__(self, poison_height: int | None = None) -> None:
        self.calls: list[int] = []
        self.poison_height = poison_height

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        self.calls.append(len(crops))
        if any(c.shape[0] == self.poison_height for c in crops):
            raise RuntimeError("injected recognizer failure")
        return [Recognition(f"line {c.shape[1]}x{c.shape[0]}", 0.9) for c in crops]


def fake_engine(poison_height: int | None = None) -> OcrEngine:
    return OcrEngine(StripeDetector(), SizeRecognizer(poison_height))


def striped_page(heights: Sequence[int], width: int = 200, gap: int = 10) -> np.ndarray:
    """A white page with black stripes of the given heights, top to bottom."""
    total = gap + sum(h + gap for h in heights)
    page = np.full((total, width, 3), 255, dtype=np.uint8)
    y = gap
    for h in heights:
        page[y : y + h, 10 : width - 10] = 0
        y += h + gap
    return page
