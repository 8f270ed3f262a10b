"""Printed text must not regress when the default engine changes: engines side by side on the
printed images of ../shared/data that have a transcript.

    python -m bench.printed_check [--engine NAME ...] [--data DIR]

Per image and engine: CER of the text in reading order (white space normalised) and order-free
word recall and precision against the transcript, and seconds per page (warm, median of 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import machine
from shared.settings import Settings
from shared.textnorm import normalize_text
from training.evaluation.metrics import Ratio, bag_overlap, edit_distance, words

DATA = Path(__file__).resolve().parents[2] / "shared/data"
# image -> transcript (a file beside it, or the text itself)
PAGES = {
    "ocrmypdf_linn.png": "ocrmypdf_linn.txt",
    "ocrmypdf_crom.png": "Covfefe is a perfectly cromulent word.",
}


def transcript(data: Path, image: str) -> str:
    source = PAGES[image]
    path = data / source
    text = path.read_text(encoding="utf-8") if source.endswith(".txt") else source
    return normalize_text(text)


def score(truth: str, found: str) -> dict[str, float | None]:
    """CER in reading order and order-free word recall and precision."""
    ref, hyp = words(truth), words(found)
    shared = bag_overlap(ref, hyp)
    return {
        "cer": Ratio(edit_distance(truth, found), len(truth)).value,
        "word_recall": Ratio(shared, len(ref)).value,
        "word_precision": Ratio(shared, len(hyp)).value,
    }


def run_engine(name: str, images: dict[str, np.ndarray], data: Path) -> list[dict[str, object]]:
    from worker.engines.registry import build_engine

    engine = build_engine(Settings(engine=name, device="cpu"))
    rows = []
    for image, pixels in images.items():
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            page = engine.run([pixels])[0]
            seconds.append(time.perf_counter() - started)
        found = normalize_text(" ".join(line.text for line in page.lines))
        figures = score(transcript(data, image), found)
        rows.append(
            {"engine": name, "image": image, "seconds": statistics.median(seconds)} | figures
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", action="append", default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    images = {name: np.asarray(Image.open(args.data / name).convert("RGB")) for name in PAGES}
    print(f"{machine()}\n")
    print("| engine | image | CER | word recall | word precision | s/page |")
    print("|---|---|---|---|---|---|")
    for name in args.engine or ["ppocr"]:
        for row in run_engine(name, images, args.data):
            print(
                f"| {row['engine']} | {row['image']} | {row['cer']:.4f} | "
                f"{row['word_recall']:.3f} | {row['word_precision']:.3f} | {row['seconds']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
