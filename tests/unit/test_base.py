from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from worker.engines.base import DetectedLine, OcrEngine, OcrLine, PageOcr, Recognition

Box = tuple[int, int, int, int]


def quad(box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def page_with(height: int, width: int, regions: dict[int, Box]) -> np.ndarray:
    """A black page where each region is painted with its id as gray value."""
    page = np.zeros((height, width, 3), dtype=np.uint8)
    for ident, (x0, y0, x1, y1) in regions.items():
        page[y0:y1, x0:x1] = ident
    return page


class FakeDetector:
    name = "fake-det"

    def __init__(self, lines_per_page: list[list[Box]]) -> None:
        self.lines_per_page = lines_per_page
        self.calls: list[int] = []

    def detect(self, pages: Sequence[np.ndarray]) -> list[list[DetectedLine]]:
        self.calls.append(len(pages))
        return [[DetectedLine(quad(box), 0.9) for box in boxes] for boxes in self.lines_per_page]


class FakeRecognizer:
    """Reads a crop's gray value (its region id) and answers the scripted recognition."""

    name = "fake-rec"

    def __init__(self, script: dict[int, tuple[str, float]]) -> None:
        self.script = script
        self.calls: list[list[int]] = []

    def recognize(self, crops: Sequence[np.ndarray]) -> list[Recognition]:
        assert isinstance(crops, list)
        ids = [int(crop[crop.shape[0] // 2, crop.shape[1] // 2, 0]) for crop in crops]
        self.calls.append(ids)
        return [Recognition(*self.script[i]) for i in ids]


# Page 0 (100 x 200): two lines on the first row, one on the second.
# Page 1 (60 x 120): one good line, one low-confidence line, one blank line.
# Page 2 (40 x 40): nothing detected.
REGIONS_0 = {10: (10, 10, 90, 30), 20: (110, 12, 190, 32), 30: (10, 50, 90, 70)}
REGIONS_1 = {40: (5, 5, 100, 20), 50: (5, 25, 100, 35), 60: (5, 40, 100, 55)}
SCRIPT = {
    10: ("alpha", 0.9),
    20: ("beta", 0.8),
    30: ("gamma", 0.95),
    40: ("  delta  ", 0.7),
    50: ("low", 0.2),
    60: ("   ", 0.99),
}


@pytest.fixture
def pages() -> list[np.ndarray]:
    return [
        page_with(100, 200, REGIONS_0),
        page_with(60, 120, REGIONS_1),
        np.zeros((40, 40, 3), dtype=np.uint8),
    ]


@pytest.fixture
def detector() -> FakeDetector:
    # Lines given out of reading order: second row first, then right-to-left.
    return FakeDetector(
        [
            [REGIONS_0[30], REGIONS_0[20], REGIONS_0[10]],
            [REGIONS_1[60], REGIONS_1[40], REGIONS_1[50]],
            [],
        ]
    )


@pytest.fixture
def recognizer() -> FakeRecognizer:
    return FakeRecognizer(SCRIPT)


def test_all_crops_go_to_the_recognizer_in_one_flat_call(
    pages: list[np.ndarray], detector: FakeDetector, recognizer: FakeRecognizer
) -> None:
    OcrEngine(detector, recognizer, min_confidence=0.5).run(pages)
    assert detector.calls == [3]
    assert recognizer.calls == [[30, 20, 10, 60, 40, 50]]


def test_results_are_regrouped_filtered_and_in_reading_order(
    pages: list[np.ndarray], detector: FakeDetector, recognizer: FakeRecognizer
) -> None:
    result = OcrEngine(detector, recognizer, min_confidence=0.5).run(pages)
    assert len(result) == 3
    assert [line.text for line in result[0].lines] == ["alpha", "beta", "gamma"]
    assert [line.bbox for line in result[0].lines] == [REGIONS_0[10], REGIONS_0[20], REGIONS_0[30]]
    assert [line.confidence for line in result[0].lines] == [0.9, 0.8, 0.95]
    assert result[1].lines == [OcrLine("delta", 0.7, REGIONS_1[40], handwritten=True)]
    assert result[2].lines == []


def test_page_text_and_size(
    pages: list[np.ndarray], detector: FakeDetector, recognizer: FakeRecognizer
) -> None:
    result = OcrEngine(detector, recognizer, min_confidence=0.5).run(pages)
    assert [(p.width, p.height) for p in result] == [(200, 100), (120, 60), (40, 40)]
    assert result[0].text == "alpha\nbeta\ngamma"
    assert result[1].text == "delta"
    assert result[2].text == ""


@pytest.mark.parametrize(
    ("min_confidence", "page1_texts"),
    [
        (0.0, ["delta", "low"]),
        (0.2, ["delta", "low"]),
        (0.21, ["delta"]),
        (0.7, ["delta"]),
        (0.71, []),
    ],
)
def test_min_confidence_threshold_is_inclusive(
    pages: list[np.ndarray],
    detector: FakeDetector,
    recognizer: FakeRecognizer,
    min_confidence: float,
    page1_texts: list[str],
) -> None:
    result = OcrEngine(detector, recognizer, min_confidence=min_confidence).run(pages)
    assert [line.text for line in result[1].lines] == page1_texts


def test_no_lines_anywhere_skips_the_recognizer() -> None:
    recognizer = FakeRecognizer({})
    pages = [np.zeros((10, 20, 3), dtype=np.uint8), np.zeros((5, 5, 3), dtype=np.uint8)]
    result = OcrEngine(FakeDetector([[], []]), recognizer).run(pages)
    assert recognizer.calls == []
    assert result == [PageOcr(20, 10, []), PageOcr(5, 5, [])]


def test_degenerate_quads_are_not_sent_to_the_recognizer() -> None:
    page = page_with(50, 100, {70: (10, 10, 60, 30)})
    detector = FakeDetector([[(10, 10, 60, 30), (20, 40, 80, 40), (5, 5, 5, 5)]])
    recognizer = FakeRecognizer({70: ("kept", 0.9)})
    result = OcrEngine(detector, recognizer).run([page])
    assert recognizer.calls == [[70]]
    assert result[0].lines == [OcrLine("kept", 0.9, (10, 10, 60, 30), handwritten=True)]


def test_bbox_is_clipped_to_the_page() -> None:
    page = page_with(50, 100, {90: (80, 0, 100, 20)})
    detector = FakeDetector([[(80, -5, 120, 20)]])
    recognizer = FakeRecognizer({90: ("edge", 0.9)})
    result = OcrEngine(detector, recognizer).run([page])
    assert result[0].lines[0].bbox == (80, 0, 100, 20)


def test_empty_batch() -> None:
    recognizer = FakeRecognizer({})
    assert OcrEngine(FakeDetector([]), recognizer).run([]) == []
    assert recognizer.calls == []


def test_engine_name() -> None:
    assert OcrEngine(FakeDetector([]), FakeRecognizer({})).name == "fake-det+fake-rec"


def test_recognizer_returning_too_few_results_is_an_error() -> None:
    class ShortRecognizer(FakeRecognizer):
        def recognize(self, crops: Sequence[np.ndarray]) -> list[Recognition]:
            return super().recognize(crops)[:-1]

    page = page_with(50, 100, {10: (0, 0, 40, 10), 20: (0, 20, 40, 30)})
    detector = FakeDetector([[(0, 0, 40, 10), (0, 20, 40, 30)]])
    with pytest.raises(ValueError):
        OcrEngine(detector, ShortRecognizer({10: ("a", 1.0), 20: ("b", 1.0)})).run([page])


@pytest.mark.parametrize("handwritten", [True, False, None])
def test_ocr_line_as_dict(handwritten: bool | None) -> None:
    line = OcrLine("hello", 0.123456, (1, 2, 3, 4), handwritten)
    assert line.as_dict() == {
        "text": "hello",
        "confidence": 0.1235,
        "bbox": [1, 2, 3, 4],
        "handwritten": handwritten,
    }


class PrintedRecognizer(FakeRecognizer):
    reads_handwriting = False


class SayingRecognizer(FakeRecognizer):
    """Says per crop: region 10 is print, every other region handwriting."""

    def recognize(self, crops: Sequence[np.ndarray]) -> list[Recognition]:
        said = super().recognize(crops)
        ids = self.calls[-1]
        return [replace(r, handwritten=i != 10) for r, i in zip(said, ids, strict=True)]


@pytest.mark.parametrize(
    ("recognizer_type", "expected"),
    [
        (FakeRecognizer, [True, True, True]),  # undeclared: handwriting (CRNN, TrOCR)
        (PrintedRecognizer, [False, False, False]),  # declares print (PP-OCR)
        (SayingRecognizer, [False, True, True]),  # per line (mixed), in reading order
    ],
)
def test_lines_say_whether_they_are_handwritten(
    pages: list[np.ndarray], recognizer_type: type[FakeRecognizer], expected: list[bool]
) -> None:
    detector = FakeDetector([list(REGIONS_0.values()), [], []])
    result = OcrEngine(detector, recognizer_type(SCRIPT)).run(pages)
    assert [line.handwritten for line in result[0].lines] == expected


def test_page_text_joins_lines_with_newlines() -> None:
    page = PageOcr(10, 10, [OcrLine("a", 1.0, (0, 0, 1, 1)), OcrLine("b c", 1.0, (0, 2, 1, 3))])
    assert page.text == "a\nb c"
