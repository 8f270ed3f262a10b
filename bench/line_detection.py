"""Line detection: kraken's baseline segmenter and quire's detectors on the same real pages.

    .venv/bin/python -m bench.line_detection --gt DIR [--gt DIR] [--limit N]
        [--detector kraken --detector ppocr --detector yolo:PATH] [--json OUT]

Every detector sees every page, alternating page by page so all meet the same machine state.
Per detector: line precision and recall at IoU 0.5 and 0.3 (one-to-one matching of boxes),
seconds per page (median, mean; the detection call alone, not the image decode), pages/s and
how many times faster than kraken by median. ``kraken`` runs ``bench/kraken_segment.py`` in
a subprocess on the kraken environment (``bash bench/kraken_env.sh`` first); each of its
lines is the bounding box of its boundary polygon. The target: recall >= 0.94 at IoU 0.3 with
precision >= 0.90, at least 10x faster per page than kraken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import numpy as np

from training.evaluation.metrics import Box, Ratio, iou_matrix, match_by_iou
from training.evaluation.report import markdown_table
from worker.geometry import bbox_of

if TYPE_CHECKING:
    from shared.groundtruth.model import GtPage
    from shared.settings import Settings
    from worker.engines.base import Detector

THRESHOLDS = (0.5, 0.3)
REFERENCE = "kraken"
TARGET_IOU, TARGET_RECALL, TARGET_PRECISION, TARGET_SPEEDUP = 0.3, 0.94, 0.90, 10.0
KRAKEN_SCRIPT = Path(__file__).with_name("kraken_segment.py")
POLYGON_MIN_POINTS = 3


@dataclass(frozen=True)
class PageResult:
    """One detector on one page: counts of lines and matches, and the seconds it took."""

    truth_lines: int
    found_lines: int
    matched: dict[float, int]  # IoU threshold -> one-to-one pairs at or above it
    seconds: float
    dropped: int = 0  # lines the detector gave that have no usable box


@dataclass
class DetectorSummary:
    """A detector's pages pooled: rates from summed counts, never averaged rates."""

    name: str
    pages: int = 0
    truth_lines: int = 0
    found_lines: int = 0
    dropped: int = 0
    matched: dict[float, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    load_seconds: float | None = None

    def precision(self, threshold: float) -> float | None:
        return Ratio(self.matched.get(threshold, 0), self.found_lines).value

    def recall(self, threshold: float) -> float | None:
        return Ratio(self.matched.get(threshold, 0), self.truth_lines).value

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def mean_seconds(self) -> float | None:
        return statistics.fmean(self.seconds) if self.seconds else None

    @property
    def pages_per_second(self) -> float | None:
        total = sum(self.seconds)
        return len(self.seconds) / total if total > 0 else None


def summarize(name: str, results: Sequence[PageResult]) -> DetectorSummary:
    """The pooled totals of one detector's page results."""
    summary = DetectorSummary(name, matched={t: 0 for t in THRESHOLDS})
    for result in results:
        summary.pages += 1
        summary.truth_lines += result.truth_lines
        summary.found_lines += result.found_lines
        summary.dropped += result.dropped
        summary.seconds.append(result.seconds)
        for threshold, count in result.matched.items():
            summary.matched[threshold] = summary.matched.get(threshold, 0) + count
    return summary


def score_page(
    truth: Sequence[Box], found: Sequence[Box], seconds: float, dropped: int = 0
) -> PageResult:
    """A page's boxes matched one-to-one against the truth at each of ``THRESHOLDS``."""
    iou = iou_matrix(truth, found)
    matched = {t: len(match_by_iou(iou, t)) for t in THRESHOLDS}
    return PageResult(len(truth), len(found), matched, seconds, dropped)


def speedup(summary: DetectorSummary, reference: DetectorSummary | None) -> float | None:
    """How many times faster than ``reference`` per page, by median seconds."""
    if reference is None or not summary.median_seconds or reference.median_seconds is None:
        return None
    return reference.median_seconds / summary.median_seconds


def meets_target(summary: DetectorSummary, reference: DetectorSummary | None) -> bool | None:
    """Whether the detector meets the target; None where kraken's speed is unknown."""
    times = speedup(summary, reference)
    if times is None or summary is reference:
        return None
    recall, precision = summary.recall(TARGET_IOU), summary.precision(TARGET_IOU)
    return (
        recall is not None
        and precision is not None
        and recall >= TARGET_RECALL
        and precision >= TARGET_PRECISION
        and times >= TARGET_SPEEDUP
    )


COLUMNS = (
    "detector",
    "pages",
    "lines",
    "found",
    "P@0.5",
    "R@0.5",
    "P@0.3",
    "R@0.3",
    "median s/page",
    "mean s/page",
    "pages/s",
    "x faster than kraken",
    "target",
)


def table_row(summary: DetectorSummary, reference: DetectorSummary | None) -> list[str]:
    """One detector's cells of the markdown table."""

    def number(value: float | None, digits: int = 3) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    verdict = meets_target(summary, reference)
    return [
        summary.name,
        str(summary.pages),
        str(summary.truth_lines),
        str(summary.found_lines),
        *(number(rate(t)) for t in THRESHOLDS for rate in (summary.precision, summary.recall)),
        number(summary.median_seconds, 2),
        number(summary.mean_seconds, 2),
        number(summary.pages_per_second, 2),
        number(speedup(summary, reference), 1),
        "—" if verdict is None else ("yes" if verdict else "no"),
    ]


def markdown_report(summaries: Sequence[DetectorSummary], machine: str, sets: str) -> str:
    """The machine and date, the pages, and one table row per detector."""
    reference = next((s for s in summaries if s.name == REFERENCE), None)
    loads = ", ".join(
        f"{s.name} {s.load_seconds:.1f} s" for s in summaries if s.load_seconds is not None
    )
    return "\n".join(
        [
            machine,
            f"ground truth: {sets}; one-time load: {loads or '—'}",
            f"target: R@{TARGET_IOU:g} >= {TARGET_RECALL:g}, P@{TARGET_IOU:g} >= "
            f"{TARGET_PRECISION:g}, >= {TARGET_SPEEDUP:g}x faster than kraken (median s/page)",
            "",
            markdown_table(COLUMNS, [table_row(s, reference) for s in summaries]),
        ]
    )


def kraken_line_box(
    boundary: Sequence[Sequence[float]] | None, width: int, height: int
) -> Box | None:
    """The page box around a kraken line's boundary polygon; None where it has no area."""
    if boundary is None or len(boundary) < POLYGON_MIN_POINTS:
        return None
    box = bbox_of(np.asarray(boundary, dtype=np.float64).reshape(-1, 2), width, height)
    return box if box[2] > box[0] and box[3] > box[1] else None


def to_page_space(boxes: Sequence[Box], image_size: tuple[int, int], page: GtPage) -> list[Box]:
    """Boxes scaled from the image's pixels to the size the ground truth declares."""
    sx, sy = page.width / image_size[0], page.height / image_size[1]
    if (sx, sy) == (1.0, 1.0):
        return list(boxes)
    return [
        (int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy)))
        for x0, y0, x1, y1 in boxes
    ]


class BenchDetector(Protocol):
    """A detector under test: one page's boxes (truth space) and the seconds detection took."""

    name: str
    load_seconds: float

    def boxes(self, page: GtPage, pixels: np.ndarray) -> tuple[list[Box], float, int]: ...

    def close(self) -> None: ...


class QuireDetector:
    """A quire ``Detector``, timed around its ``detect`` call on one page."""

    def __init__(self, name: str, detector: Detector, load_seconds: float) -> None:
        self.name, self._detector, self.load_seconds = name, detector, load_seconds

    def boxes(self, page: GtPage, pixels: np.ndarray) -> tuple[list[Box], float, int]:
        height, width = pixels.shape[:2]
        start = time.perf_counter()
        (lines,) = self._detector.detect([pixels])
        seconds = time.perf_counter() - start
        found = [bbox_of(line.quad, width, height) for line in lines]
        kept = [b for b in found if b[2] > b[0] and b[3] > b[1]]
        return to_page_space(kept, (width, height), page), seconds, len(found) - len(kept)

    def close(self) -> None:
        pass


class KrakenDetector:
    """``bench/kraken_segment.py`` in a subprocess on the kraken environment, a page a request."""

    name = REFERENCE

    def __init__(
        self, python: Path, site: Path, device: str = "cpu", threads: int | None = None
    ) -> None:
        if not (site / "kraken").is_dir():
            raise SystemExit(f"no kraken in {site}: run 'bash bench/kraken_env.sh' first")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        }
        self._process = subprocess.Popen(
            [str(python), str(KRAKEN_SCRIPT), "--device", device]
            + (["--threads", str(threads)] if threads else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = self._receive()
        self.load_seconds = float(hello["import_seconds"]) + float(hello["load_seconds"])
        self.details = hello

    def boxes(self, page: GtPage, pixels: np.ndarray) -> tuple[list[Box], float, int]:
        request = {"image": str(page.image), "width": page.width, "height": page.height}
        stdin = self._pipe(self._process.stdin)
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        answer = self._receive()
        if "error" in answer:
            raise RuntimeError(f"kraken failed on {page.image}: {answer['error']}")
        width, height = answer["size"]
        found = [kraken_line_box(line["boundary"], width, height) for line in answer["lines"]]
        kept = [box for box in found if box is not None]
        return to_page_space(kept, (width, height), page), answer["seconds"], len(found) - len(kept)

    def close(self) -> None:
        self._pipe(self._process.stdin).close()
        self._process.wait(timeout=60)

    def _receive(self) -> dict[str, Any]:
        line = self._pipe(self._process.stdout).readline()
        if not line:
            raise RuntimeError(f"kraken's segmenter exited (status {self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    @staticmethod
    def _pipe(stream: IO[str] | None) -> IO[str]:
        assert stream is not None  # Popen was given PIPE
        return stream


def build_detector(name: str, settings: Settings, args: argparse.Namespace) -> BenchDetector:
    """A detector by name: ``kraken``, ``ppocr`` or ``yolo:PATH``; each loaded once."""
    start = time.perf_counter()
    if name == REFERENCE:
        return KrakenDetector(
            args.kraken_python, args.kraken_site, args.kraken_device, args.kraken_threads
        )
    if name == "ppocr":
        from worker.engines.ppocr import load_ppocr_detector
        from worker.engines.registry import ppocr_detection

        ppocr = load_ppocr_detector(settings.data_dir / "engine-cache", ppocr_detection(settings))
        return QuireDetector(name, ppocr, time.perf_counter() - start)
    if name.startswith("yolo:"):
        from worker.engines.yolo import YoloDetector

        yolo = YoloDetector(
            Path(name.removeprefix("yolo:")),
            conf=settings.detector_confidence,
            iou=settings.detector_iou,
            imgsz=settings.detector_image_size,
            batch_size=1,
            device=settings.device,
            config_dir=settings.data_dir / "ultralytics",
            name=name,
        )
        return QuireDetector(name, yolo, time.perf_counter() - start)
    raise SystemExit(f"unknown detector {name!r}: kraken, ppocr or yolo:PATH")


def run_bench(pages: Sequence[GtPage], detectors: Sequence[BenchDetector]) -> list[DetectorSummary]:
    """Every detector on every page, detectors alternating page by page."""
    from training.evaluation.runner import load_page_image

    results: dict[str, list[PageResult]] = {d.name: [] for d in detectors}
    for number, page in enumerate(pages, start=1):
        pixels = load_page_image(page)
        truth = [line.bbox for line in page.lines]
        for detector in detectors:
            found, seconds, dropped = detector.boxes(page, pixels)
            results[detector.name].append(score_page(truth, found, seconds, dropped))
            print(
                f"page {number}/{len(pages)} {page.image.name}: {detector.name} "
                f"{len(found)} lines in {seconds:.2f} s",
                file=sys.stderr,
            )
    summaries = []
    for detector in detectors:
        summary = summarize(detector.name, results[detector.name])
        summary.load_seconds = detector.load_seconds
        summaries.append(summary)
    return summaries


def machine_line() -> str:
    """Date, platform and CPUs, and the torch threads quire's side ran with."""
    import torch

    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.platform()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads"
    )


def write_json(
    out: Path, summaries: Sequence[DetectorSummary], machine: str, gt: Sequence[Path]
) -> None:
    """The summaries, with each rate and speed, as JSON."""
    reference = next((s for s in summaries if s.name == REFERENCE), None)
    detectors = []
    for s in summaries:
        record = asdict(s)
        record["matched"] = {f"{t:g}": n for t, n in s.matched.items()}
        record |= {
            "precision": {f"{t:g}": s.precision(t) for t in THRESHOLDS},
            "recall": {f"{t:g}": s.recall(t) for t in THRESHOLDS},
            "median_seconds": s.median_seconds,
            "mean_seconds": s.mean_seconds,
            "pages_per_second": s.pages_per_second,
            "speedup_vs_kraken": speedup(s, reference),
            "meets_target": meets_target(s, reference),
        }
        detectors.append(record)
    document = {"machine": machine, "ground_truth": [str(p) for p in gt], "detectors": detectors}
    out.write_text(json.dumps(document, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", action="append", required=True, type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--detector", action="append", dest="detectors")
    parser.add_argument("--json", type=Path, help="also write the summaries here")
    parser.add_argument("--kraken-site", type=Path, default=Path(".quire/kraken-site"))
    parser.add_argument("--kraken-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--kraken-device", default="cpu")
    parser.add_argument("--kraken-threads", type=int, help="torch threads for kraken")
    args = parser.parse_args()
    from cli.eval_cmd import load_pages
    from shared.settings import Settings

    pages = load_pages(args.gt, [], args.limit)
    if not pages:
        raise SystemExit(f"no ground-truth page could be read from {args.gt}")
    settings = Settings()
    detectors = [build_detector(n, settings, args) for n in args.detectors or [REFERENCE, "ppocr"]]
    try:
        summaries = run_bench(pages, detectors)
    finally:
        for detector in detectors:
            detector.close()
    machine = machine_line() + "".join(
        f"; kraken on torch {d.details['torch']} with {d.details['torch_threads']} threads"
        for d in detectors
        if isinstance(d, KrakenDetector)
    )
    print(markdown_report(summaries, machine, ", ".join(map(str, args.gt))))
    if args.json:
        write_json(args.json, summaries, machine, args.gt)


if __name__ == "__main__":
    main()
