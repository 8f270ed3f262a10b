"""The CRNN's decoding beside a character language model: greedy vs beam search fused with it.

Lines are the ground-truth box crops of the validation pages of the recognizer's own seeded
split (never trained on by the recognizer or counted by the LM), so the weights chosen here
are not chosen on the dev set. The model runs once per line; every weight pair decodes the
same frames.

    python -m bench.lm_decoding --model models/quire-htr-crnn/recognizer.pt \\
        --lm models/quire-htr-crnn/charlm.json.gz --gt ... --limit 600
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from pathlib import Path

import numpy as np
import torch

from shared.groundtruth.load import scan_ground_truth
from shared.textnorm import normalize_text
from training.line_dataset import split_pages, training_lines
from training.recognizer.char_lm import CharNgramLm
from training.recognizer.crnn import line_to_array
from training.recognizer.ctc_beam import BeamOptions, prefix_beam_search
from training.recognizer.line_errors import ErrorTally
from worker.engines.crnn import CrnnRecognizer, decode_with_confidence


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _lines(args: argparse.Namespace) -> tuple[list[np.ndarray], list[str]]:
    if args.eval_gt:
        pages = list(scan_ground_truth(args.eval_gt, ()).pages)
    else:
        pages = split_pages(args.gt, val_fraction=args.val_fraction, seed=args.seed).val
    samples = list(training_lines(pages, "box"))
    random.Random(args.seed).shuffle(samples)
    return [np.asarray(s.image) for s in samples[: args.limit]], [
        s.text for s in samples[: args.limit]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--lm", type=Path, required=True)
    parser.add_argument("--gt", type=Path, action="append", default=[])
    parser.add_argument(
        "--eval-gt",
        type=Path,
        action="append",
        default=[],
        help="read these pages whole instead of the split's validation pages",
    )
    parser.add_argument("--val-fraction", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--weights", type=_floats, default=[0.3, 0.5, 0.8])
    parser.add_argument("--bonus", type=_floats, default=[0.5, 1.0, 2.0])
    parser.add_argument("--beam", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    crops, texts = _lines(args)
    recognizer = CrnnRecognizer(args.model)
    arrays = [line_to_array(c, recognizer.model.shape) for c in crops]
    log_probs = [lp.numpy() for a in arrays for lp in recognizer.frame_log_probs([a])]
    lm = CharNgramLm.load(args.lm)
    print(f"{len(texts)} lines, LM order {lm.order}, beam {args.beam}\n")
    print(
        "| decoding | LM weight | length bonus | CER | WER | ms/line |\n|---|---|---|---|---|---|"
    )
    greedy = ErrorTally()
    started = time.perf_counter()
    for lp, text in zip(log_probs, texts, strict=True):
        greedy.add(decode_with_confidence(torch.from_numpy(lp).exp(), recognizer.codec).text, text)
    _row("greedy", "-", "-", greedy, started, len(texts))
    for weight, bonus in itertools.product(args.weights, args.bonus):
        options = BeamOptions(beam_width=args.beam, lm_weight=weight, length_bonus=bonus)
        tally, started = ErrorTally(), time.perf_counter()
        for lp, text in zip(log_probs, texts, strict=True):
            hypothesis = prefix_beam_search(lp, recognizer.codec.alphabet, lm, options)
            tally.add(normalize_text(hypothesis), text)
        _row("beam + LM", f"{weight:g}", f"{bonus:g}", tally, started, len(texts))


def _row(kind: str, weight: str, bonus: str, tally: ErrorTally, started: float, n: int) -> None:
    ms = 1000 * (time.perf_counter() - started) / max(n, 1)
    print(
        f"| {kind} | {weight} | {bonus} | {tally.cer:.4f} | {tally.wer:.4f} | {ms:.1f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
