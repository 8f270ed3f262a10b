"""Per-epoch bookkeeping shared by every trainer: the metrics file, early stopping, the
time budget, and a progress bar line."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


@dataclass
class EpochRecord:
    """What one epoch measured; ``metrics`` holds the family's figures (val_cer, map50, ...)."""

    epoch: int
    train_loss: float
    metrics: dict[str, float]
    seconds: float
    best: bool = False
    samples_per_second: float = 0.0

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class MetricsLog:
    """``metrics.jsonl`` beside the model: one JSON line per epoch, appended as epochs end, so a
    resumed run keeps the curve of the run before it."""

    def __init__(self, folder: Path):
        self.path = folder / METRICS_FILE

    def append(self, record: EpochRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(record.as_json() + "\n")

    def read(self) -> list[EpochRecord]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(EpochRecord(**json.loads(line)))
        return records

    def truncate_after(self, epoch: int) -> None:
        """Drop epochs after ``epoch`` (those a crash left without a checkpoint)."""
        kept = [r for r in self.read() if r.epoch <= epoch]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(r.as_json() + "\n" for r in kept), encoding="utf-8")


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of at least ``min_delta``.

    ``mode`` is ``min`` for error rates (CER) and ``max`` for scores (mAP, recall).
    """

    patience: int
    mode: str = "min"
    min_delta: float = 0.0
    best: float = field(default=math.nan)
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when it is the best so far."""
        if math.isnan(self.best) or self._better(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])


class TimeBudget:
    """A wall-clock budget in minutes (None = unlimited), checked between steps."""

    def __init__(self, minutes: float | None, clock: Any = time.monotonic):
        self._clock = clock
        self._deadline = None if minutes is None else clock() + minutes * 60.0

    @property
    def spent(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    @property
    def seconds_left(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - self._clock())


def epoch_summary(record: EpochRecord, total_epochs: int) -> str:
    """One progress line: ``epoch 3/30 loss 0.412 val_cer 0.183 (best) 41 s``."""
    figures = " ".join(f"{name} {value:.4f}" for name, value in sorted(record.metrics.items()))
    mark = " (best)" if record.best else ""
    return (
        f"epoch {record.epoch}/{total_epochs} loss {record.train_loss:.4f} {figures}{mark} "
        f"{record.seconds:.0f} s"
    )
