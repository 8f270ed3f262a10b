"""``quire train lm``: count a character language model from training pages and corpora.

Only the training side of the same seeded page split the recognizer uses is counted, so the
validation pages stay unseen by both models and can choose the fusion weights.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.groundtruth.model import GtPage
from shared.textnorm import normalize_text
from training.line_dataset import MARKUP, split_pages
from training.recognizer.char_lm import LM_FILE, START, CharNgramLm


def page_texts(pages: Sequence[GtPage]) -> Iterator[str]:
    """The pages' line transcriptions, markup lines left out (as the recognizer trains)."""
    for page in pages:
        for line in page.lines:
            if line.text and not MARKUP.intersection(line.text):
                yield line.text


def corpus_texts(paths: Sequence[Path]) -> Iterator[str]:
    """Non-empty normalised lines of plain-text files."""
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as source:
            for raw in source:
                text = normalize_text(raw)
                if text:
                    yield text


def lm_path(out: Path) -> Path:
    """``out`` itself when it names a file, else the LM file inside the folder ``out``."""
    return out if out.name.endswith(".json.gz") else out / LM_FILE


def train_lm_cli(args: argparse.Namespace) -> int:
    """Build, save and report a language model from the ``quire train lm`` options."""
    if not args.gt and not args.text:
        print("quire train lm: give --gt ground truth or --text corpora")
        return 2
    started = time.monotonic()
    train: list[GtPage] = []
    val: list[GtPage] = []
    if args.gt:
        split = split_pages(args.gt, val_fraction=args.val_fraction, seed=args.seed)
        train, val = split.train, split.val
    texts = [t.replace(START, "") for t in page_texts(train)]
    texts += [t.replace(START, "") for t in corpus_texts(args.text)]
    lm = CharNgramLm.build(texts, order=args.order)
    out = lm_path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm.save(out)
    report = {
        "lm": str(out),
        "order": args.order,
        "lines": len(texts),
        "characters": sum(len(t) for t in texts),
        "bytes": out.stat().st_size,
        "validation_perplexity": round(lm.perplexity(page_texts(val)), 3) if val else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report, indent=2))
    return 0
