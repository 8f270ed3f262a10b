"""One recognizer for mixed pages: printed-text reading first, handwriting where it is unsure.

PP-OCR's recognizer reads print almost perfectly and is sure of it; on handwriting its
confidence drops. Lines it reads below a threshold go to the handwriting recognizer, so a
printed letterhead keeps PP-OCR's text and the handwritten body gets quire's CRNN. Only the
unsure lines pay for the second model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from worker.engines.base import Image, Recognition, Recognizer, reads_handwriting


class ConfidenceChoice:
    """``printed`` reads every crop; crops below ``threshold`` are read again by ``handwriting``.

    Each recognition says which recognizer's text it is (``handwritten``), so a result's lines
    tell print from handwriting as Textract's TextType does.
    """

    def __init__(self, printed: Recognizer, handwriting: Recognizer, threshold: float):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.printed = printed
        self.handwriting = handwriting
        self.threshold = threshold
        self.name = f"{printed.name}|{handwriting.name}"

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        """One recognition per crop, in the order of ``crops``."""
        first = _marked(self.printed.recognize(crops), reads_handwriting(self.printed))
        unsure = [i for i, rec in enumerate(first) if rec.confidence < self.threshold]
        if not unsure:
            return first
        second = self.handwriting.recognize([crops[i] for i in unsure])
        chosen = list(first)
        for index, rec in zip(
            unsure, _marked(second, reads_handwriting(self.handwriting)), strict=True
        ):
            chosen[index] = rec
        return chosen


def _marked(recognitions: Sequence[Recognition], handwritten: bool) -> list[Recognition]:
    """The recognitions, each saying whether it is handwriting (its own word first)."""
    return [
        rec if rec.handwritten is not None else replace(rec, handwritten=handwritten)
        for rec in recognitions
    ]
