"""What every recognizer trainer returns (TrOCR, CRNN-CTC), so callers treat them alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from training.run_log import EpochRecord

STOP_REASONS = ("epochs", "early_stopping", "time_budget", "did_not_converge")


@dataclass
class RecognizerTrainResult:
    """The outcome of one recognizer training run.

    Attributes:
        best_dir: The folder holding the best epoch's model (what ships).
        records: Every epoch so far, those of resumed runs included.
        stopped: Why the run ended, one of ``STOP_REASONS``: ``"epochs"`` (all done),
            ``"early_stopping"`` (no better validation CER for ``patience`` epochs),
            ``"time_budget"`` (the wall-clock budget ran out; the run can resume) or
            ``"did_not_converge"`` (the loss became non-finite, or the run ended with no
            epoch below a validation CER of 1.0, which an empty output scores).
        unknown_chars: Characters of the training and validation texts that the model's
            vocabulary cannot write, with how often each occurs; empty when all are covered.
    """

    best_dir: Path
    records: list[EpochRecord]
    stopped: str
    unknown_chars: dict[str, int] = field(default_factory=dict)
