"""``quire eval``: score one or several engines against ground truth, on the same pages.

    quire eval --gt alto/ --images jpg/ --engine ppocr --engine ppocr-trocr --json eval.json

Each engine is built from the worker's registry by name, then handed to the evaluation
library (which imports no worker code). Ground-truth problems are warnings; no page at all
exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.groundtruth.model import GtPage
    from shared.settings import Settings
    from training.evaluation.report import EvalReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``eval`` command to the ``quire`` parser's subcommands."""
    parser = subparsers.add_parser("eval", help="score engines against PAGE XML / ALTO truth")
    parser.add_argument(
        "--engine",
        action="append",
        dest="engines",
        metavar="NAME",
        help="engine to score (repeat to compare side by side; default QUIRE_ENGINE)",
    )
    parser.add_argument(
        "--gt",
        action="append",
        required=True,
        type=Path,
        metavar="PATH",
        help="ground-truth folder or XML file (repeatable)",
    )
    parser.add_argument(
        "--images",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="another folder to find the pages' images in (repeatable)",
    )
    parser.add_argument("--limit", type=_positive, metavar="N", help="score only the first N pages")
    parser.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write JSON")
    parser.add_argument(
        "--line-iou",
        type=_iou,
        default=0.5,
        metavar="IOU",
        help="IoU at which found lines are paired with truth lines for CER/WER (default 0.5)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Score each engine named on the same pages, print the tables, write the JSON.

    Returns:
        0 when every engine was scored; 2 when there is no page or an engine cannot be built.
    """
    from shared.groundtruth.model import GroundTruthError

    try:
        pages = load_pages(args.gt, args.images, args.limit)
    except GroundTruthError as e:
        print(f"quire eval: {e.code}: {e.message}", file=sys.stderr)
        return 2
    if not pages:
        shown = ", ".join(str(path) for path in args.gt)
        print(f"quire eval: no ground-truth page could be read from {shown}", file=sys.stderr)
        return 2
    try:
        reports = evaluate_engines(
            settings, args.engines or [settings.engine], pages, args.line_iou
        )
    except ValueError as e:  # unknown engine name, or its models missing
        print(f"quire eval: {e}", file=sys.stderr)
        return 2
    print_reports(reports)
    if args.json_out:
        write_json(reports, args.gt, args.json_out)
        print(f"written: {args.json_out}")
    return 0


def load_pages(gt: Sequence[Path], images: Sequence[Path], limit: int | None) -> list[GtPage]:
    """The ground-truth pages found (the first ``limit`` of them); problems printed as
    warnings on stderr."""
    from shared.groundtruth.load import scan_ground_truth

    scan = scan_ground_truth(list(gt), image_dirs=list(images))
    for problem in scan.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return scan.pages[:limit] if limit else list(scan.pages)


def evaluate_engines(
    settings: Settings,
    names: Sequence[str],
    pages: Sequence[GtPage],
    line_iou: float = 0.5,
    *,
    progress: bool = True,
) -> list[EvalReport]:
    """Build each engine by name, one at a time, and score it over the same pages.

    Raises:
        ValueError: An engine name is unknown or its models cannot be had.
    """
    from training.evaluation.runner import evaluate
    from worker.engines.registry import build_engine, check_engine

    named = [settings.model_copy(update={"engine": name}) for name in names]
    for engine_settings in named:
        check_engine(engine_settings)  # a typo in the last name fails before the first run
    reports = []
    for name, engine_settings in zip(names, named, strict=True):
        engine = build_engine(engine_settings)
        report = evaluate(engine, pages, line_iou=line_iou, progress=progress, label=name)
        reports.append(report)
        del engine  # one engine's models in memory at a time
    return reports


def print_reports(reports: Sequence[EvalReport]) -> None:
    """Each engine's per-page table, its skipped pages, then the engines side by side."""
    from training.evaluation.report import comparison_table

    for report in reports:
        heading = f"{report.engine}: {report.model}" if report.model else report.engine
        print(f"\n## {heading} (lines paired at IoU >= {report.line_iou:g})\n")
        print(report.table())
        for page, reason in report.skipped:
            print(f"warning: {page} skipped: {reason}", file=sys.stderr)
    if len(reports) > 1:
        print("\n## engines side by side\n")
        print(comparison_table(reports))


def write_json(reports: Sequence[EvalReport], gt: Sequence[Path], out: Path) -> None:
    """``{"ground_truth": [...], "reports": [one per engine]}``, UTF-8."""
    document = {
        "ground_truth": [str(path) for path in gt],
        "reports": [report.to_dict() for report in reports],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _iou(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {value}")
    return value
