"""quire's engines beside Tesseract on printed pages with known text, in one run.

    python -m bench.printed_vs_tesseract [--engine mixed] [--engine "ppocr:words=0"] [--seed 0]

Pages: the generated pages of ``bench.printed_pages`` (the first three 300-dpi ones go through
a multi-page PDF, rendered back as the worker renders uploads) and ../shared/data's
ocrmypdf_linn.png with its transcript. That transcript is a machine transcript (OCRmyPDF's
test resource), with a dozen mistakes of its own: ``LINN_ERRATA`` corrects them against the
image before scoring (``--linn-as-shipped`` scores against the file as it is). Each page is
read by every engine before the next page (the order rotating page by page), so a machine
that gets busier mid-run slows all engines alike. Tesseract is the Debian CLI:
``tesseract IMAGE stdout --psm 3 -l eng`` with OMP_THREAD_LIMIT=2.

Figures, pooled over the pages: CER in reading order (white space normalised), order-free word
recall and precision, wall seconds per page, and pages per CPU-second (quire: this process's
CPU time; Tesseract: its child's, from getrusage(RUSAGE_CHILDREN)).

Engine variants are ``NAME:key=value,...`` on ``ppocr`` or ``mixed``: ``threads`` (ONNX Runtime
intra-op threads, 0 = its default), ``spin`` (0/1, idle threads spin), ``batch`` (recognizer
batch size), ``side`` and ``limit`` (the detector's det_limit_side_len and det_limit_type),
``words`` (0/1, the word-list repair of printed words), ``rec`` (``v6`` or ``v5``: PP-OCRv6
small or PP-OCRv5 mobile recognizer). Other engine names run as the worker builds them.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import machine
from bench.printed_pages import PrintedPage, generate_pages, write_pdf
from shared.settings import Settings
from shared.textnorm import normalize_text
from training.evaluation.metrics import Ratio, bag_overlap, edit_distance, words
from worker.engines.base import OcrEngine
from worker.engines.ppocr import RecognizerModel

DATA = Path(__file__).resolve().parents[2] / "shared/data"
TESSERACT_ARGS = ("stdout", "--psm", "3", "-l", "eng")
PDF_PAGES = 3
# Mistakes of the shipped linn transcript, each checked against the image: bullets read as
# "0", words split or joined, a fraction, the reading order of one heading, the logo.
LINN_ERRATA: tuple[tuple[str, str], ...] = (
    ("synthesizers !", "synthesizers!"),
    ("3 1/2 \u201d", "3\u00bd\u201d"),
    ("adjusted 0r defeated", "adjusted or defeated"),
    ("\ufb01rst\u2018track", "first track"),
    ("sequence-\u2014", "sequence\u2014"),
    ("INSERT/ COPY", "INSERT/COPY"),
    ("FOOTSWIT CH", "FOOTSWITCH"),
    ("PLAY/ STOP", "PLAY/STOP"),
    ("8 MHZ", "8 MHz"),
    ("\nEDI]", "\nLinn"),
    ("\nAdditional Features\n", "\n"),
    ("\n0 Simple, easy", "\nAdditional Features\n0 Simple, easy"),
)
_BULLET = re.compile(r"^0 (?=[A-Z])", re.M)
RECOGNIZERS: dict[str, RecognizerModel] = {"v6": "ppocrv6-small", "v5": "ppocrv5-mobile"}
VARIANT_KEYS = {"threads", "spin", "batch", "side", "limit", "words", "rec"}


@dataclass(frozen=True)
class EngineSpec:
    """An engine name and the variant options after its colon."""

    name: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.name}:{extra}" if extra else self.name


@dataclass
class Tally:
    """One engine's counts and times over the pages, pooled (never averaged per page)."""

    chars: Ratio = field(default_factory=Ratio)
    recall: Ratio = field(default_factory=Ratio)
    precision: Ratio = field(default_factory=Ratio)
    wall: float = 0.0
    cpu: float = 0.0
    pages: int = 0
    per_page: dict[str, float | None] = field(default_factory=dict)

    def add(self, page: str, truth: str, found: str, wall: float, cpu: float) -> None:
        ref, hyp = words(truth), words(found)
        shared = bag_overlap(ref, hyp)
        cer = Ratio(edit_distance(truth, found), len(truth))
        self.chars += cer
        self.recall += Ratio(shared, len(ref))
        self.precision += Ratio(shared, len(hyp))
        self.wall, self.cpu, self.pages = self.wall + wall, self.cpu + cpu, self.pages + 1
        self.per_page[page] = cer.value


def parse_engine(text: str) -> EngineSpec:
    """``"ppocr:threads=1,side=1280"`` -> EngineSpec("ppocr", {...}); unknown keys fail.

    Raises:
        ValueError: a malformed option, an unknown key, or options on an engine without any.
    """
    name, _, rest = text.partition(":")
    options = dict(_option(item) for item in rest.split(",") if item)
    unknown = set(options) - VARIANT_KEYS
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {sorted(VARIANT_KEYS)}")
    if options and name not in {"ppocr", "mixed"}:
        raise ValueError(f"variants apply to ppocr and mixed, not {name!r}")
    return EngineSpec(name, options)


def _option(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key or not value:
        raise ValueError(f"an option is key=value, not {item!r}")
    return key, value


def rotated(items: Sequence[EngineSpec], start: int) -> list[EngineSpec]:
    """``items`` starting at ``start`` (mod its length): page i's engine order."""
    shift = start % len(items) if items else 0
    return list(items[shift:]) + list(items[:shift])


def corrected_linn(transcript: str) -> str:
    """The linn transcript with ``LINN_ERRATA`` applied and its bullets as bullets.

    Raises:
        ValueError: an erratum's text is not in the transcript (the file changed).
    """
    for wrong, right in LINN_ERRATA:
        if wrong not in transcript:
            raise ValueError(f"linn transcript: {wrong!r} not found")
        transcript = transcript.replace(wrong, right, 1)
    return _BULLET.sub("\u2022 ", transcript)


def load_pages(
    seed: int, data: Path, work: Path, linn_as_shipped: bool = False
) -> list[PrintedPage]:
    """Generated pages (some through a PDF) and linn with its transcript."""
    from worker.documents import DocumentLimits, iter_pages

    pages = generate_pages(seed)
    in_pdf = [p for p in pages if p.image.shape[0] > 3000][:PDF_PAGES]
    pdf = write_pdf(in_pdf, work / "printed.pdf")
    limits = DocumentLimits(dpi=300, max_pages=PDF_PAGES, max_pixels=100_000_000)
    rendered = {p.name: p for p in in_pdf}
    for page, out in zip(in_pdf, iter_pages(pdf, "application/pdf", limits), strict=True):
        image = np.asarray(Image.open(io.BytesIO(out.png)).convert("RGB"))
        rendered[page.name] = PrintedPage(f"{page.name} (pdf)", image, page.text)
    pages = [rendered.get(p.name, p) for p in pages]
    linn = np.asarray(Image.open(data / "ocrmypdf_linn.png").convert("RGB"))
    truth = (data / "ocrmypdf_linn.txt").read_text(encoding="utf-8")
    truth = truth if linn_as_shipped else corrected_linn(truth)
    return [*pages, PrintedPage("ocrmypdf_linn", linn, truth)]


def build_quire(spec: EngineSpec, settings: Settings) -> OcrEngine:
    """The engine as the worker builds it, or a ppocr/mixed variant of it."""
    from worker.engines.registry import build_engine

    if not spec.options:
        return build_engine(settings.model_copy(update={"engine": spec.name}))
    from worker.engines.ppocr import Runtime, build_ppocr_engine
    from worker.engines.registry import ppocr_detection
    from worker.engines.word_repair import default_word_list

    o = spec.options
    base = ppocr_detection(settings)
    detection = replace(
        base,
        limit_side_len=int(o.get("side", base.limit_side_len)),
        limit_type=o.get("limit", base.limit_type),
    )
    runtime = Runtime(
        threads=int(o.get("threads", settings.ppocr_threads)),
        spinning=o.get("spin", "1") == "1",
        batch_size=int(o.get("batch", Runtime().batch_size)),
    )
    words = default_word_list() if o.get("words", "1") == "1" else None
    cache = settings.data_dir / "engine-cache"
    recognizer = RECOGNIZERS[o.get("rec", "v6")]
    ppocr = build_ppocr_engine(
        cache, detection, settings.ppocr_min_confidence, runtime, words, recognizer
    )
    return ppocr if spec.name == "ppocr" else _mixed_over(ppocr, settings)


def _mixed_over(ppocr: OcrEngine, settings: Settings) -> OcrEngine:
    from worker.engines.confidence_choice import ConfidenceChoice
    from worker.engines.registry import _crnn_recognizer

    choice = ConfidenceChoice(
        ppocr.recognizer, _crnn_recognizer(settings), settings.printed_min_confidence
    )
    return OcrEngine(ppocr.detector, choice, min_confidence=settings.mixed_min_confidence)


Reader = Callable[[np.ndarray], tuple[str, float, float]]  # text, wall s, CPU s


def quire_reader(engine: OcrEngine) -> Reader:
    def read(image: np.ndarray) -> tuple[str, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        page = engine.run([image])[0]
        text = " ".join(line.text for line in page.lines)
        return text, time.perf_counter() - wall, time.process_time() - cpu

    return read


def tesseract_reader(work: Path) -> Reader:
    """Tesseract on a PPM (cheap to decode), written before the clock starts."""
    env = os.environ | {"OMP_THREAD_LIMIT": "2"}

    def read(image: np.ndarray) -> tuple[str, float, float]:
        path = work / "page.ppm"
        Image.fromarray(image).save(path)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        command = ["tesseract", str(path), *TESSERACT_ARGS]
        done = subprocess.run(command, capture_output=True, env=env, check=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return done.stdout.decode("utf-8"), wall, cpu

    return read


def run(
    specs: Sequence[EngineSpec], pages: Sequence[PrintedPage], readers: dict[str, Reader]
) -> dict[str, Tally]:
    """Every page through every engine, page by page, the engine order rotating."""
    tallies = {spec.label: Tally() for spec in specs}
    warm = pages[-1].image
    for spec in specs:
        readers[spec.label](warm)  # first calls load and optimise: not part of the figures
    for i, page in enumerate(pages):
        truth = normalize_text(page.text)
        for spec in rotated(specs, i):
            text, wall, cpu = readers[spec.label](page.image)
            tallies[spec.label].add(page.name, truth, normalize_text(text), wall, cpu)
            print(f"  {page.name:<22} {spec.label:<28} {wall:6.2f} s", file=sys.stderr)
    return tallies


def summary_table(tallies: dict[str, Tally], reference: str = "tesseract") -> str:
    """Markdown: pooled quality and speed per engine, speed also as a ratio to Tesseract."""
    ref = tallies.get(reference)
    rows = [
        "| engine | pages | CER | word recall | word precision | s/page | CPU s/page "
        f"| pages per CPU-s | pages per CPU-s, x {reference} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, t in tallies.items():
        speed = t.pages / t.cpu if t.cpu else float("nan")
        ratio = speed * ref.cpu / ref.pages if ref and ref.cpu else float("nan")
        rows.append(
            f"| {label} | {t.pages} | {_pct(t.chars.value)} | {_pct(t.recall.value)} "
            f"| {_pct(t.precision.value)} | {t.wall / t.pages:.2f} | {t.cpu / t.pages:.2f} "
            f"| {speed:.3f} | {ratio:.2f} |"
        )
    return "\n".join(rows)


def page_table(tallies: dict[str, Tally]) -> str:
    """Markdown: CER per page and engine."""
    labels = list(tallies)
    pages = list(next(iter(tallies.values())).per_page)
    rows = ["| page | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for page in pages:
        cells = " | ".join(_pct(tallies[label].per_page[page]) for label in labels)
        rows.append(f"| {page} | {cells} |")
    return "\n".join(rows)


def _indices(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", action="append", type=parse_engine, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--pages", type=_indices, default=None, help="e.g. 0,6,9 (default: all)")
    parser.add_argument("--no-tesseract", action="store_true", help="quire's variants only")
    parser.add_argument(
        "--linn-as-shipped", action="store_true", help="score linn against the file as it is"
    )
    args = parser.parse_args(argv)
    specs = [EngineSpec("tesseract")] * (not args.no_tesseract) + (
        args.engine or [EngineSpec("mixed")]
    )
    with tempfile.TemporaryDirectory(prefix="printed-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(device="cpu", data_dir=work / "data")
        readers = {
            spec.label: tesseract_reader(work)
            if spec.name == "tesseract"
            else quire_reader(build_quire(spec, settings))
            for spec in specs
        }
        pages = load_pages(args.seed, args.data, work, args.linn_as_shipped)
        pages = [pages[i] for i in args.pages] if args.pages else pages
        tallies = run(specs, pages, readers)
    transcript = "as shipped" if args.linn_as_shipped else "with LINN_ERRATA"
    print(f"{machine()}; {len(pages)} pages, seed {args.seed}; linn {transcript}\n")
    reference = "tesseract" if "tesseract" in tallies else next(iter(tallies))
    print(summary_table(tallies, reference) + "\n")
    print(page_table(tallies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
