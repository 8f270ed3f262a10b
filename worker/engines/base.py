"""Engine interfaces and their composition.

Stages take a whole batch and return results in the same order: the detector gets every page,
the recognizer gets the crops of every page as one flat list, sliced back per page after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from worker.geometry import bbox_of, crop_quad
from worker.reading_order import reading_order

Image = np.ndarray  # H x W x 3, uint8, RGB


@dataclass(frozen=True)
class DetectedLine:
    """A text line found on a page: a quadrilateral (4 x 2, page pixels) and a score."""

    quad: np.ndarray
    score: float


@dataclass(frozen=True)
class Recognition:
    """The text of one crop, a confidence in [0, 1], and whether it was read as handwriting
    (None: the recognizer does not say; the engine then asks ``reads_handwriting``)."""

    text: str
    confidence: float
    handwritten: bool | None = None


@dataclass(frozen=True)
class OcrLine:
    """A recognized line as results store it; ``handwritten`` None means not known."""

    text: str
    confidence: float
    bbox: tuple[int, int, int, int]
    handwritten: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "bbox": list(self.bbox),
            "handwritten": self.handwritten,
        }


@dataclass(frozen=True)
class PageOcr:
    """Everything recognized on one page, lines in reading order."""

    width: int
    height: int
    lines: list[OcrLine]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class Detector(Protocol):
    """Finds text lines on a batch of pages."""

    name: str

    def detect(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        """One list of lines per page, in the order of ``pages``."""
        ...


class Recognizer(Protocol):
    """Reads the text of a batch of line crops.

    A recognizer may declare ``reads_handwriting`` (a bool attribute); see ``reads_handwriting``.
    """

    name: str

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        """One recognition per crop, in the order of ``crops``."""
        ...


class OcrEngine:
    """A detector and a recognizer run as one two-stage predictor over a batch of pages."""

    def __init__(self, detector: Detector, recognizer: Recognizer, min_confidence: float = 0.0):
        self.detector = detector
        self.recognizer = recognizer
        self.min_confidence = min_confidence
        self.handwritten = reads_handwriting(recognizer)

    @property
    def name(self) -> str:
        return f"{self.detector.name}+{self.recognizer.name}"

    def run(self, pages: Sequence[Image]) -> list[PageOcr]:
        """Detect, crop every line of every page, recognize all crops at once, regroup."""
        detections = self.detector.detect(pages)
        cropped = [crop_lines(page, lines) for page, lines in zip(pages, detections, strict=True)]
        flat = [crop for crops, _ in cropped for crop in crops]
        recognized = self.recognizer.recognize(flat) if flat else []
        results, start = [], 0
        for page, (crops, boxes) in zip(pages, cropped, strict=True):
            own = recognized[start : start + len(crops)]
            start += len(crops)
            results.append(assemble_page(page, boxes, own, self.min_confidence, self.handwritten))
        return results


def reads_handwriting(recognizer: object) -> bool:
    """Whether a recognizer's lines are handwriting where its recognitions do not say.

    Recognizers declare it as a ``reads_handwriting`` attribute (PP-OCR's: False). quire is
    handwriting first, so one that does not declare it (CRNN, TrOCR) reads handwriting.
    """
    return bool(getattr(recognizer, "reads_handwriting", True))


Box = tuple[int, int, int, int]


def crop_lines(page: Image, lines: Sequence[DetectedLine]) -> tuple[list[Image], list[Box]]:
    """The non-empty crops of a page's lines, with their bounding boxes."""
    height, width = page.shape[:2]
    crops, boxes = [], []
    for line in lines:
        crop = crop_quad(page, line.quad)
        if crop.size:
            crops.append(crop)
            boxes.append(bbox_of(line.quad, width, height))
    return crops, boxes


def assemble_page(
    page: Image,
    boxes: Sequence[Box],
    recognized: Sequence[Recognition],
    min_confidence: float,
    handwritten: bool = True,
) -> PageOcr:
    """Keep confident, non-blank lines and put them in reading order.

    Args:
        page: The page image.
        boxes: One bounding box per recognition.
        recognized: The recognitions, in the order of ``boxes``.
        min_confidence: Lines below this are dropped.
        handwritten: What a line is marked as where its recognition does not say.
    """
    lines = [
        OcrLine(rec.text.strip(), rec.confidence, box, _handwritten(rec, handwritten))
        for box, rec in zip(boxes, recognized, strict=True)
        if rec.text.strip() and rec.confidence >= min_confidence
    ]
    ordered = [lines[i] for i in reading_order([line.bbox for line in lines])]
    return PageOcr(page.shape[1], page.shape[0], ordered)


def _handwritten(recognition: Recognition, default: bool) -> bool:
    return default if recognition.handwritten is None else recognition.handwritten
