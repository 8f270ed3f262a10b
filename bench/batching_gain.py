"""Benchmark 1: recognizer crops/s at batch 32 against batch 1, same process, same crops.

TrOCR with the real small-size architecture (random weights), every line generating exactly
the same number of tokens (min_new_tokens = max_new_tokens), greedy decoding.

    .venv/bin/python bench/batching_gain.py [--size small] [--crops 64] [--tokens 24]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.common import line_crop, machine, sentence
from worker.engines.trocr import TrOcrRecognizer
from worker.engines.trocr_build import build_trocr


def crops_per_second(recognizer: TrOcrRecognizer, crops: list, repeats: int) -> float:
    recognizer.recognize(crops[: min(len(crops), 4)])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        recognizer.recognize(crops)
        best = min(best, time.perf_counter() - start)
    return len(crops) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", default="1,32")
    args = parser.parse_args()
    rng = random.Random(0)
    crops = [line_crop(sentence(rng, rng.randint(3, 8))) for _ in range(args.crops)]
    with tempfile.TemporaryDirectory() as folder:
        model = build_trocr(args.size, Path(folder) / "recognizer")
        rates = {}
        for batch in [int(b) for b in args.batches.split(",")]:
            recognizer = TrOcrRecognizer(
                model,
                device=args.device,
                batch_size=batch,
                max_new_tokens=args.tokens,
                min_new_tokens=args.tokens,
            )
            rates[batch] = crops_per_second(recognizer, crops, args.repeats)
            del recognizer
    print(f"machine: {machine()}")
    print(f"TrOCR {args.size}, {args.crops} crops, {args.tokens} tokens each, greedy")
    for batch, rate in rates.items():
        print(f"batch {batch:>3}: {rate:8.2f} crops/s  ({1000 / rate:7.1f} ms/crop)")
    low = min(rates)
    for batch, rate in rates.items():
        if batch != low:
            print(f"gain batch {batch} / batch {low}: {rate / rates[low]:.2f}x")


if __name__ == "__main__":
    main()
