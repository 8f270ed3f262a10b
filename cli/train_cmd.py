"""``quire train detector|recognizer|lm``: train quire's models on PAGE XML / ALTO ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RECOGNIZER_FAMILIES = ("crnn", "trocr")


def register(sub: Any) -> None:
    """Add ``train`` and its three verbs to the ``quire`` parser."""
    train = sub.add_parser("train", help="train a line detector or recognizer on ground truth")
    verbs = train.add_subparsers(dest="kind", required=True)
    for kind in ("detector", "recognizer"):
        parser = verbs.add_parser(kind, help=f"train a text-line {kind}")
        _data_options(parser)
        if kind == "detector":
            _detector_options(parser)
        else:
            _recognizer_options(parser)
    _lm_options(verbs.add_parser("lm", help="count a character language model for the CRNN"))


def _lm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gt", type=Path, action="append", default=[], help="ground truth (repeatable)"
    )
    parser.add_argument(
        "--text", type=Path, action="append", default=[], help="a plain-text corpus, one line each"
    )
    parser.add_argument("--val-fraction", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--order", type=int, default=6, help="characters per n-gram")
    parser.add_argument(
        "--out", type=Path, required=True, help="a recognizer's folder or a .json.gz file"
    )


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gt",
        type=Path,
        action="append",
        required=True,
        help="PAGE XML / ALTO folder or file (repeatable)",
    )
    parser.add_argument(
        "--val-gt",
        type=Path,
        action="append",
        default=[],
        help="validation ground truth (default: a seeded page split of --gt)",
    )
    parser.add_argument(
        "--images",
        type=Path,
        action="append",
        default=[],
        help="extra folders to find page images in",
    )
    parser.add_argument("--val-fraction", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6, help="epochs without improvement")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--no-resume", action="store_true", help="ignore a last checkpoint")


def _detector_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default="yolov8n.yaml", help="model yaml or a .pt to start from")
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=8)


def _recognizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", choices=RECOGNIZER_FAMILIES, default="crnn")
    parser.add_argument(
        "--base-model",
        default=None,
        help="start from this model (crnn: a recognizer.pt; trocr: a folder)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=None, help="learning rate")
    parser.add_argument(
        "--epoch-lines",
        type=int,
        default=None,
        help="crnn: lines per epoch (validation after each)",
    )
    parser.add_argument("--crop", choices=["polygon", "box"], default="polygon")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    """Import the ground truth, split it by page, train, print where the model is."""
    if args.kind == "lm":
        from training.recognizer.lm_training import train_lm_cli

        return train_lm_cli(args)
    from training.line_dataset import split_pages

    split = split_pages(
        args.gt,
        val_fraction=args.val_fraction,
        seed=args.seed,
        val_gt=args.val_gt,
        image_dirs=args.images,
    )
    for problem in split.problems[:20]:
        print(f"warning: {problem}", file=sys.stderr)
    if len(split.problems) > 20:
        print(f"warning: {len(split.problems) - 20} more import problems", file=sys.stderr)
    print(split.summary(), flush=True)
    if not split.train or not split.val:
        print("quire train: need pages for both training and validation", file=sys.stderr)
        return 2
    if args.kind == "detector":
        return _train_detector(args, split)
    return _train_recognizer(args, split)


def _train_detector(args: argparse.Namespace, split: Any) -> int:
    from training.detector_training import DetectorTrainConfig, train_detector
    from training.yolo_dataset import write_yolo_dataset

    data_yaml = write_yolo_dataset(
        split.train, split.val, args.out / "dataset", image_size=args.image_size
    )
    config = DetectorTrainConfig(
        data_yaml=data_yaml,
        out_dir=args.out,
        base=args.base,
        image_size=args.image_size,
        epochs=args.epochs,
        batch=args.batch_size,
        patience=args.patience,
        max_minutes=args.max_minutes,
        device=args.device,
        seed=args.seed,
        resume=not args.no_resume,
    )
    result = train_detector(config)
    return _report(result.stopped, result.shipped_path, result.records)


def _train_recognizer(args: argparse.Namespace, split: Any) -> int:
    from training.line_dataset import training_lines

    train = training_lines(split.train, args.crop)
    val = training_lines(split.val, args.crop)
    if args.family == "trocr":
        from training.trocr_training import TrocrTrainConfig, train_trocr

        if not args.base_model:
            print("quire train recognizer --family trocr needs --base-model", file=sys.stderr)
            return 2
        trocr = TrocrTrainConfig(
            base_model=Path(args.base_model),
            out_dir=args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            patience=args.patience,
            max_minutes=args.max_minutes,
            device=args.device,
            seed=args.seed,
            **({"learning_rate": args.lr} if args.lr else {}),
        )
        result = train_trocr(trocr, list(train), list(val))
    else:
        from training.recognizer.crnn_training import CrnnTrainConfig, train_crnn

        crnn = CrnnTrainConfig(
            out_dir=args.out,
            epochs=args.epochs,
            epoch_lines=args.epoch_lines,
            batch_size=args.batch_size,
            patience=args.patience,
            max_minutes=args.max_minutes,
            device=args.device,
            seed=args.seed,
            resume=not args.no_resume,
            base_model=Path(args.base_model) if args.base_model else None,
            threads=args.threads,
            metadata={"gt": [str(p) for p in args.gt]},
            **({"learning_rate": args.lr} if args.lr else {}),
        )
        result = train_crnn(crnn, train, val)
    return _report(result.stopped, result.best_dir, result.records)


def _report(stopped: str, where: Path, records: list[Any]) -> int:
    best = [r for r in records if r.best]
    summary = {
        "stopped": stopped,
        "model": str(where),
        "epochs": len(records),
        "best": best[-1].metrics if best else None,
    }
    print(json.dumps(summary, indent=2))
    return 1 if stopped == "did_not_converge" else 0
