"""Run an engine over ground-truth pages, one page at a time, timed, and score each page.

Both sides pass through ``normalize_text`` before any comparison, as at training and
inference. Found lines that match no truth line enter no CER or WER (transcriptions often
leave marginalia out); line precision and word precision are where they count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from shared.groundtruth.model import GtPage
from shared.textnorm import normalize_text
from training.evaluation.metrics import (
    Box,
    Ratio,
    bag_overlap,
    edit_distance,
    iou_matrix,
    match_by_iou,
    words,
)
from training.evaluation.report import EvalReport, PageScore

log = logging.getLogger("quire.eval")

DETECTION_IOUS = (0.5, 0.3)
Tokenizer = Callable[[str], Sequence[str]]  # a text to the units counted: chars or words


class FoundLineLike(Protocol):
    """A recognised line as engines give it (the worker's ``OcrLine`` fits)."""

    @property
    def text(self) -> str: ...

    @property
    def bbox(self) -> tuple[int, int, int, int]: ...


class FoundPageLike(Protocol):
    """A recognised page as engines give it (the worker's ``PageOcr`` fits)."""

    @property
    def lines(self) -> Sequence[FoundLineLike]: ...


class EngineUnderTest(Protocol):
    """Anything evaluated: a name and a batch of RGB pages in, one result per page out."""

    @property
    def name(self) -> str: ...

    def run(self, pages: Sequence[np.ndarray]) -> Sequence[FoundPageLike]: ...


@dataclass(frozen=True)
class FoundLine:
    """A recognised line in the ground truth's pixel space."""

    text: str
    bbox: Box


def evaluate(
    engine: EngineUnderTest,
    pages: Iterable[GtPage],
    *,
    line_iou: float = 0.5,
    thresholds: Sequence[float] = DETECTION_IOUS,
    progress: bool = True,
    label: str | None = None,
) -> EvalReport:
    """Run ``engine`` on each page's image alone, time it, and score it against the truth.

    Args:
        engine: The engine to measure; only its ``run`` is timed, not its loading.
        pages: Ground-truth pages, their images readable at ``GtPage.image``.
        line_iou: The IoU at which truth and found lines are paired for CER and WER.
        thresholds: The IoUs at which line precision and recall are reported.
        progress: Show a progress bar over the pages (on stderr).
        label: The name the engine was chosen by, reported beside its own ``name``.

    Returns:
        The report: one row per page scored, the pages whose image could not be read.
    """
    report = EvalReport(label or engine.name, line_iou, tuple(thresholds), model=engine.name)
    pages = list(pages)
    for truth in tqdm(pages, desc=report.engine, unit="page", disable=not progress):
        try:
            pixels = load_page_image(truth)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            log.warning("skipping %s: image %s unreadable: %s", truth.source, truth.image, e)
            report.skipped.append((str(truth.source), f"image unreadable: {e}"))
            continue
        start = time.perf_counter()
        (result,) = engine.run([pixels])
        seconds = time.perf_counter() - start
        found = to_truth_space(result.lines, pixels.shape[1], pixels.shape[0], truth)
        report.pages.append(
            score_page(truth, found, seconds, line_iou=line_iou, thresholds=thresholds)
        )
    return report


def load_page_image(truth: GtPage) -> np.ndarray:
    """The page's pixels as H x W x 3 uint8 RGB, turned upright by EXIF only where that makes
    them the size the ground truth declares."""
    with Image.open(truth.image) as image:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        declared = (truth.width, truth.height)
        chosen = upright if upright.size == declared and image.size != declared else image
        return np.asarray(chosen.convert("RGB"))


def to_truth_space(
    lines: Sequence[FoundLineLike], width: int, height: int, truth: GtPage
) -> list[FoundLine]:
    """Found lines with their boxes scaled from the image's pixels to the declared page size
    (they differ where the images were resized after transcription)."""
    sx = truth.width / width if truth.width > 0 else 1.0
    sy = truth.height / height if truth.height > 0 else 1.0
    return [FoundLine(line.text, _scaled(line.bbox, sx, sy)) for line in lines]


def _scaled(box: tuple[int, int, int, int], sx: float, sy: float) -> Box:
    if sx == 1.0 and sy == 1.0:
        return box
    x0, y0, x1, y1 = box
    return (round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy))


def score_page(
    truth: GtPage,
    found: Sequence[FoundLineLike],
    seconds: float,
    *,
    line_iou: float = 0.5,
    thresholds: Sequence[float] = DETECTION_IOUS,
) -> PageScore:
    """Score one page's found lines against its truth lines (both in the same pixel space).

    Args:
        truth: The ground-truth page.
        found: The engine's lines, boxes in the truth's pixel space.
        seconds: How long the engine took on the page.
        line_iou: The IoU at which lines are paired for CER and WER.
        thresholds: The IoUs at which one-to-one line matches are counted.

    Returns:
        The page's counts: matches per threshold, character and word edits (a truth line
        left unpaired counts as wholly deleted), and the page's bag-of-words overlap.
    """
    iou = iou_matrix([line.bbox for line in truth.lines], [line.bbox for line in found])
    reference = [normalize_text(line.text) for line in truth.lines]
    recognised = [normalize_text(line.text) for line in found]
    partner = dict(match_by_iou(iou, line_iou))
    pairs = [
        (ref, recognised[partner[i]] if i in partner else "") for i, ref in enumerate(reference)
    ]
    truth_words = [w for text in reference for w in words(text)]
    found_words = [w for text in recognised for w in words(text)]
    overlap = bag_overlap(truth_words, found_words)
    return PageScore(
        page=truth.source.name,
        seconds=seconds,
        truth_lines=len(truth.lines),
        found_lines=len(found),
        matched={t: len(match_by_iou(iou, t)) for t in thresholds},
        cer=text_errors(pairs, lambda text: text),
        cer_folded=text_errors(pairs, str.casefold),
        wer=text_errors(pairs, words),
        wer_folded=text_errors(pairs, lambda text: words(text.casefold())),
        word_recall=Ratio(overlap, len(truth_words)),
        word_precision=Ratio(overlap, len(found_words)),
    )


def text_errors(pairs: Iterable[tuple[str, str]], tokens: Tokenizer) -> Ratio:
    """Edits over reference length, summed over (reference, hypothesis) pairs of texts.

    Args:
        pairs: Each truth line's text with its paired found text ("" for none).
        tokens: Splits a text into the units counted: characters or words, folded or not.
    """
    edits = length = 0
    for reference, hypothesis in pairs:
        ref_tokens, hyp_tokens = tokens(reference), tokens(hypothesis)
        edits += edit_distance(ref_tokens, hyp_tokens)
        length += len(ref_tokens)
    return Ratio(edits, length)
