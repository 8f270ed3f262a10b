"""Pooled character and word errors of recognised lines against their ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.evaluation.metrics import Ratio, edit_distance, words


@dataclass
class ErrorTally:
    """Edits and reference lengths summed over lines: CER and WER pooled, never averaged."""

    chars: Ratio = field(default_factory=Ratio)
    word_errors: Ratio = field(default_factory=Ratio)

    def add(self, hypothesis: str, reference: str) -> None:
        self.chars += Ratio(edit_distance(reference, hypothesis), len(reference))
        ref_words = words(reference)
        self.word_errors += Ratio(edit_distance(ref_words, words(hypothesis)), len(ref_words))

    @property
    def cer(self) -> float:
        return self.chars.value if self.chars.value is not None else 1.0

    @property
    def wer(self) -> float:
        return self.word_errors.value if self.word_errors.value is not None else 1.0
