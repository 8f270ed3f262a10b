"""kraken's baseline segmenter as a line-per-page subprocess for ``bench.line_detection``.

    PYTHONPATH=.quire/kraken-site .venv/bin/python bench/kraken_segment.py [--device cpu]

Runs in the kraken environment (``bench/kraken_env.sh``), so it imports nothing of quire.
It loads the default model shipped in kraken's wheel once, prints one JSON line (the import
and load seconds), then answers each request line on stdin, ``{"image": PATH, "width": W,
"height": H}``, with one JSON line: the image's size, each line's ``boundary`` polygon and
``baseline`` in image pixels, and ``seconds``, the ``blla.segment`` call alone (decoding the
image is not counted). A page that fails answers ``{"image": PATH, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from collections.abc import Iterator
from typing import IO, Any

from PIL import Image, ImageOps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device for the segmenter")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    out = sys.stdout
    sys.stdout = sys.stderr  # only the protocol's lines go to the real stdout
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import torch
    from kraken import blla
    from kraken.lib import vgsl

    imported = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = vgsl.TorchVGSLModel.load_model(_default_model())
    loaded = time.perf_counter()
    _send(
        out,
        {
            "import_seconds": imported - start,
            "load_seconds": loaded - imported,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    )
    for request in _requests(sys.stdin):
        try:
            _send(out, _segment(blla, model, request, args.device))
        except Exception as e:  # one bad page must not end the run
            _send(out, {"image": request.get("image"), "error": f"{type(e).__name__}: {e}"})
    return 0


def _default_model() -> Any:
    from importlib import resources

    return resources.files("kraken").joinpath("blla.mlmodel")


def _requests(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        if raw.strip():
            yield json.loads(raw)


def _segment(blla: Any, model: Any, request: dict[str, Any], device: str) -> dict[str, Any]:
    image = _open_upright(request["image"], request.get("width"), request.get("height"))
    start = time.perf_counter()
    segmentation = blla.segment(image, model=model, device=device)
    seconds = time.perf_counter() - start
    lines = [
        {"boundary": _points(line.boundary), "baseline": _points(line.baseline)}
        for line in segmentation.lines
    ]
    return {"image": request["image"], "size": image.size, "seconds": seconds, "lines": lines}


def _open_upright(path: str, width: int | None, height: int | None) -> Image.Image:
    """The image as RGB, turned by EXIF only where that gives the declared size (as quire's
    evaluation reads pages, so both sides see the same pixels)."""
    with Image.open(path) as image:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        declared = (width, height)
        chosen = upright if upright.size == declared and image.size != declared else image
        return chosen.convert("RGB")


def _points(points: Any) -> list[list[float]] | None:
    return None if points is None else [[float(x), float(y)] for x, y in points]


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        sys.exit(main())
