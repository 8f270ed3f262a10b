"""The mixed recognizer: printed reading first, handwriting only where it is unsure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from worker.engines.base import Image, Recognition
from worker.engines.confidence_choice import ConfidenceChoice


class Scripted:
    """Answers each crop by its width: {width: (text, confidence)}; records what it saw."""

    def __init__(
        self, name: str, answers: dict[int, tuple[str, float]], reads_handwriting: bool = True
    ):
        self.name = name
        self.answers = answers
        self.reads_handwriting = reads_handwriting
        self.seen: list[int] = []

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        widths = [c.shape[1] for c in crops]
        self.seen += widths
        return [Recognition(*self.answers[w]) for w in widths]


def _crops(*widths: int) -> list[np.ndarray]:
    return [np.zeros((10, w, 3), np.uint8) for w in widths]


@pytest.mark.parametrize(
    ("threshold", "expected", "second_sees"),
    [
        (0.9, ["Printed", "hand", "Sure"], [20]),
        (0.0, ["Printed", "scrawl", "Sure"], []),
        (1.0, ["print?", "hand", "sure?"], [10, 20, 30]),
    ],
)
def test_unsure_lines_and_only_those_go_to_the_handwriting_recognizer(
    threshold: float, expected: list[str], second_sees: list[int]
) -> None:
    printed = Scripted("pp", {10: ("Printed", 0.97), 20: ("scrawl", 0.41), 30: ("Sure", 0.95)})
    hand = Scripted("crnn", {10: ("print?", 0.5), 20: ("hand", 0.8), 30: ("sure?", 0.6)})
    out = ConfidenceChoice(printed, hand, threshold).recognize(_crops(10, 20, 30))
    assert [r.text for r in out] == expected
    assert hand.seen == second_sees
    assert printed.seen == [10, 20, 30]


def test_name_names_both_and_threshold_is_checked() -> None:
    choice = ConfidenceChoice(Scripted("pp", {}), Scripted("crnn", {}), 0.5)
    assert choice.name == "pp|crnn"
    assert choice.recognize([]) == []
    with pytest.raises(ValueError, match="threshold"):
        ConfidenceChoice(Scripted("pp", {}), Scripted("crnn", {}), 1.5)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.9, [False, True, False]),
        (0.0, [False, False, False]),
        (1.0, [True, True, True]),
    ],
)
def test_each_line_says_which_recognizer_read_it(threshold: float, expected: list[bool]) -> None:
    printed = Scripted(
        "pp", {10: ("Printed", 0.97), 20: ("scrawl", 0.41), 30: ("Sure", 0.95)}, False
    )
    hand = Scripted("crnn", {10: ("print?", 0.5), 20: ("hand", 0.8), 30: ("sure?", 0.6)})
    out = ConfidenceChoice(printed, hand, threshold).recognize(_crops(10, 20, 30))
    assert [r.handwritten for r in out] == expected
