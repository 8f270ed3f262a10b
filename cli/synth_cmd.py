"""``quire synth pages|lines``: synthetic handwriting with PAGE XML ground truth.

Also runnable alone: ``python -m cli.synth_cmd pages --out DIR -n 20``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``synth`` to the ``quire`` command's subparsers."""
    parser = subparsers.add_parser("synth", help="render synthetic handwriting + PAGE XML")
    _add_arguments(parser)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["pages", "lines"], help="letter pages or line images")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("-n", "--count", type=int, default=20, help="items to write")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--workers", type=int, default=2, help="processes (1: in this one)")
    parser.add_argument(
        "--fonts",
        type=Path,
        default=None,
        help="font cache (default $QUIRE_FONT_CACHE or .quire/fonts)",
    )
    parser.add_argument(
        "--texts",
        type=Path,
        default=None,
        help="text cache (default $QUIRE_TEXT_CACHE or .quire/texts)",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="no rotation, ruling, blur, noise or JPEG (for debugging)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Generate what ``args`` asks for; print a one-line summary. Returns the exit code."""
    from training.synth.fonts import default_cache_dir as font_cache
    from training.synth.fonts import load_fonts
    from training.synth.pages import SynthOptions, generate

    if args.count < 0 or args.workers < 1:
        print("quire synth: --count must be >= 0 and --workers >= 1", file=sys.stderr)
        return 2
    if not load_fonts(args.fonts or font_cache()):
        print(
            "quire synth: the font cache is empty, using system fonts (run `make fonts`)",
            file=sys.stderr,
        )
    options = SynthOptions()
    if args.clean:
        options = SynthOptions(ruled=0.0, rotation=0.0, degrade=False)
    try:
        summary = generate(
            args.kind,
            args.out,
            args.count,
            seed=args.seed,
            workers=args.workers,
            font_dir=args.fonts,
            text_dir=args.texts,
            options=options,
            progress=not args.quiet,
        )
    except FileNotFoundError as e:
        print(f"quire synth: {e}", file=sys.stderr)
        return 1
    what = (
        f"{summary.items} pages ({summary.lines} lines)"
        if args.kind == "pages"
        else (f"{summary.items} line images")
    )
    print(
        f"wrote {what} to {args.out} in {summary.seconds:.1f} s: "
        f"{summary.items_per_second:.2f} {args.kind}/s, {summary.lines_per_second:.1f} lines/s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.synth_cmd", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
