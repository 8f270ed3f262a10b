"""One recognizer for mixed pages: printed-text reading first, handwriting where it is unsure.

PP-OCR's recognizer reads print almost perfectly and is sure of it; on handwriting its
confidence drops. Lines it reads below a threshold go to the handwriting recognizer, so a
printed letterhead keeps PP-OCR's text and the handwritten body gets quire's CRNN. Only the
unsure lines pay for the second model.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.engines.base import Image, Recognition, Recognizer


class ConfidenceChoice:
    """``printed`` reads every crop; crops below ``threshold`` are read again by ``handwriting``."""

    def __init__(self, printed: Recognizer, handwriting: Recognizer, threshold: float):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.printed = printed
        self.handwriting = handwriting
        self.threshold = threshold
        self.name = f"{printed.name}|{handwriting.name}"

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        """One recognition per crop, in the order of ``crops``."""
        first = self.printed.recognize(crops)
        unsure = [i for i, rec in enumerate(first) if rec.confidence < self.threshold]
        if not unsure:
            return first
        second = self.handwriting.recognize([crops[i] for i in unsure])
        chosen = list(first)
        for index, rec in zip(unsure, second, strict=True):
            chosen[index] = rec
        return chosen
