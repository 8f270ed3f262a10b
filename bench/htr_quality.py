"""Handwriting quality: engines scored against a dev set of ground truth, as ``quire eval``.

    .venv/bin/python -m bench.htr_quality --gt DIR [--images DIR] [--engine ppocr ...]
        [--limit N] [--line-iou 0.5] [--json OUT]

Prints a markdown block ready for BENCHMARKS.md: the date and machine, the dev set, then one
row per engine (pages, lines, line precision/recall at IoU 0.5 and 0.3, CER, CER case-folded,
WER, word recall, seconds per page). Engines load from ``QUIRE_*`` settings, their name
overridden.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bench.common import machine
from cli.eval_cmd import evaluate_engines, load_pages, write_json
from shared.settings import Settings
from training.evaluation.report import EvalReport, markdown_table

COLUMNS = (
    "engine",
    "pages",
    "lines",
    "found",
    "P@0.5",
    "R@0.5",
    "P@0.3",
    "R@0.3",
    "CER",
    "CER folded",
    "WER",
    "word recall",
    "s/page",
)


def row(report: EvalReport) -> list[str]:
    """One engine's pooled totals as the table's cells."""
    total = report.totals

    def rate(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    return [
        report.engine,
        str(total.pages),
        str(total.truth_lines),
        str(total.found_lines),
        rate(total.line_precision(0.5).value),
        rate(total.line_recall(0.5).value),
        rate(total.line_precision(0.3).value),
        rate(total.line_recall(0.3).value),
        rate(total.cer.value),
        rate(total.cer_folded.value),
        rate(total.wer.value),
        rate(total.word_recall.value),
        f"{total.seconds_per_page:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gt", action="append", required=True, type=Path)
    parser.add_argument("--images", action="append", default=[], type=Path)
    parser.add_argument("--engine", action="append", dest="engines")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--line-iou", type=float, default=0.5)
    parser.add_argument("--json", type=Path, help="also write the full reports here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pages = load_pages(args.gt, args.images, args.limit)
    if not pages:
        raise SystemExit(f"no ground-truth page could be read from {args.gt}")
    names = args.engines or ["ppocr"]
    reports = evaluate_engines(Settings(), names, pages, args.line_iou)
    if args.json:
        write_json(reports, args.gt, args.json)
    sets = ", ".join(str(path) for path in args.gt)
    print(f"\n{machine()}")
    print(f"dev set: {sets}; CER/WER over lines paired at IoU >= {args.line_iou:g}\n")
    print(markdown_table(COLUMNS, [row(report) for report in reports]))


if __name__ == "__main__":
    main()
