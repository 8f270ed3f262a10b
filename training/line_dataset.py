"""Ground-truth folders to training and validation lines, split by page with a seed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.groundtruth.load import scan_ground_truth
from shared.groundtruth.model import GtPage, GtProblem
from training.line_crops import line_samples
from training.samples import LineSample
from training.splits import split_by_page

# Transcription conventions, not ink: CREMMA writes crossed-out words as >word< and an
# unreadable passage as ><. Lines holding them teach the model characters nobody wrote.
MARKUP = frozenset("<>[]{}")


@dataclass
class PageSplit:
    """Pages for training and for validation, and what the import reported."""

    train: list[GtPage]
    val: list[GtPage]
    problems: list[GtProblem] = field(default_factory=list)

    def summary(self) -> str:
        lines = sum(len(p.lines) for p in self.train), sum(len(p.lines) for p in self.val)
        return (
            f"{len(self.train)} training pages ({lines[0]} lines), {len(self.val)} validation "
            f"pages ({lines[1]} lines), {len(self.problems)} import problems"
        )


def split_pages(
    gt: Sequence[Path],
    *,
    val_fraction: float,
    seed: int,
    val_gt: Sequence[Path] = (),
    image_dirs: Sequence[Path] = (),
    max_pixels: int | None = None,
) -> PageSplit:
    """Import ``gt``; validation is ``val_gt`` when given, else a seeded page fraction."""
    scan = scan_ground_truth(gt, image_dirs, max_pixels)
    problems = list(scan.problems)
    if val_gt:
        held = scan_ground_truth(val_gt, image_dirs, max_pixels)
        problems += held.problems
        return PageSplit(list(scan.pages), list(held.pages), problems)
    train, val = split_by_page(scan.pages, val_fraction, seed, key=lambda p: str(p.source))
    return PageSplit(list(train), list(val), problems)


def trainable(sample: LineSample) -> bool:
    """A line whose text is what is written: no editorial markup."""
    return bool(sample.text) and not MARKUP.intersection(sample.text)


def training_lines(pages: Sequence[GtPage], crop_mode: str = "polygon") -> Iterator[LineSample]:
    """The pages' line crops with their text, markup lines left out."""
    return (s for s in line_samples(pages, crop_mode) if trainable(s))
