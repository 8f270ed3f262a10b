"""Benchmark: building a job's searchable PDF at request time, seconds and peak memory.

A scanned PDF of ``--pages`` pages (A4 at 200 dpi, grayscale JPEG, about 40 text lines a
page) gets its text layer from a synthetic result, as ``GET /v1/jobs/{id}/result?format=pdf``
builds it (``api.pdf_export.build_job_pdf`` over a local object store, then every chunk read
as the response streams them): plain and PDF/A-2b.
Each build runs in a fresh child process, so its peak RSS is its own; a 1-page build gives the
fixed cost, and a run of ``--many`` small pages shows whether memory grows with the pages.

    .venv/bin/python -m bench.searchable_pdf [--pages 300] [--many 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw, ImageFont

from bench.common import FONT, sentence
from shared.schemas import LineOut, PageOut, ResultOut

DPI = 200
A4_PX = (1654, 2339)  # 210 x 297 mm at 200 dpi
LINES_PER_PAGE = 40
DISTINCT_PAGES = 12  # page images cycled through (each page still has its own stream)


def scan_jpeg(seed: int, size: tuple[int, int] = A4_PX, lines: int = LINES_PER_PAGE) -> bytes:
    """A grayscale JPEG of a printed page, about as a 200 dpi office scan."""
    rng = random.Random(seed)
    image = Image.new("L", size, 245)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), max(8, size[1] // (lines * 2)))
    for row in range(lines):
        y = int(size[1] * 0.05 + row * size[1] * 0.9 / lines)
        draw.text((size[0] * 0.08, y), sentence(rng, rng.randint(5, 10)), fill=20, font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=75, dpi=(DPI, DPI))
    return out.getvalue()


def page_lines(rng: random.Random, size: tuple[int, int], lines: int) -> list[LineOut]:
    """Lines over the page in reading order, boxes in page pixels."""
    width, height = size
    step = height * 0.9 / max(lines, 1)
    out = []
    for row in range(lines):
        top = int(height * 0.05 + row * step)
        text = sentence(rng, rng.randint(5, 10))
        right = min(width - 10, int(width * 0.08) + len(text) * max(4, int(step * 0.25)))
        bbox = [int(width * 0.08), top, right, top + max(2, int(step * 0.6))]
        out.append(LineOut(text=text, confidence=0.9, bbox=bbox))
    return out


def synthetic_result(pages: int, size: tuple[int, int], lines: int, seed: int = 0) -> ResultOut:
    """A finished result of ``pages`` pages of ``size`` pixels, ``lines`` lines each."""
    rng = random.Random(seed)
    outs = [
        PageOut(
            index=index,
            width=size[0],
            height=size[1],
            status="succeeded",
            text="",
            lines=page_lines(rng, size, lines),
        )
        for index in range(pages)
    ]
    return ResultOut(job_id="bench", status="succeeded", text="", model="bench", pages=outs)


def scan_pdf(path: Path, pages: int, size: tuple[int, int] = A4_PX, lines: int = 40) -> None:
    """A PDF of ``pages`` JPEG scans, as a scanner writes one (img2pdf, no re-encoding)."""
    images = [scan_jpeg(seed, size, lines) for seed in range(min(pages, DISTINCT_PAGES))]
    with path.open("wb") as out:
        img2pdf.convert(
            *(images[i % len(images)] for i in range(pages)),
            outputstream=out,
            layout_fun=img2pdf.get_fixed_dpi_layout_fun((DPI, DPI)),
        )


# --- the child: one build, measured ----------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM: unlike ``ru_maxrss``, which Linux carries
    over from the parent across fork and exec, it counts this program's memory only)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(source: Path, result_path: Path, pdfa: bool) -> None:
    """Build once as the API does and print seconds, output bytes and peak RSS as JSON.

    The upload sits in a local object store; ``api.pdf_export.build_job_pdf`` copies it to a
    temporary folder and builds the PDF (the time to the first byte), then its chunks are
    read as the response would stream them.
    """
    from api.pdf_export import build_job_pdf
    from shared.db.models import Job
    from shared.storage.local import LocalObjectStore

    result = ResultOut.model_validate_json(result_path.read_bytes())
    store = LocalObjectStore(source.parent / "store")
    job = Job(id="bench", source_key="bench/source.pdf", media_type="application/pdf")
    job.filename = "bench.pdf"
    with source.open("rb") as upload:
        store.put_stream(job.source_key, upload, "application/pdf")
    started = time.perf_counter()
    built = build_job_pdf(store, job, result, pdfa=pdfa)
    first_byte = time.perf_counter() - started
    sent = sum(len(chunk) for chunk in built.chunks())
    report = {
        "seconds": first_byte,
        "streamed": time.perf_counter() - started,
        "bytes": sent,
        "peak_rss_mib": peak_rss_mib(),
        "pdfa": built.pdfa.status if built.pdfa else None,
    }
    store.delete(job.source_key)
    print(json.dumps(report))


def measure(source: Path, result: ResultOut, pdfa: bool) -> dict[str, object]:
    """Run one build in a fresh process and return its report."""
    result_path = source.with_suffix(".json")
    result_path.write_text(result.model_dump_json())
    command = [sys.executable, "-m", "bench.searchable_pdf", "--child", str(source)]
    command += [str(result_path)] + (["--pdfa"] if pdfa else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def run_case(folder: Path, name: str, pages: int, size: tuple[int, int], lines: int) -> None:
    source = folder / f"{name}.pdf"
    scan_pdf(source, pages, size, lines)
    result = synthetic_result(pages, size, lines)
    for pdfa in (False, True):
        report = measure(source, result, pdfa)
        row = [
            name,
            str(pages),
            f"{source.stat().st_size:,}",
            "PDF/A-2b" if pdfa else "plain",
            f"{report['seconds']:.2f}",
            f"{report['streamed']:.2f}",
            f"{pages / float(str(report['seconds'])):.0f}",
            f"{report['peak_rss_mib']:.0f}",
            str(report["pdfa"] or "-"),
        ]
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--many", type=int, default=3000)
    parser.add_argument("--child", nargs=2, type=Path, metavar=("SOURCE", "RESULT"))
    parser.add_argument("--pdfa", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.pdfa)
        return
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        "| case | pages | source bytes | output | first byte (s) | all sent (s) | pages/s "
        "| peak RSS (MiB) | PDF/A |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="quire-bench-pdf-") as folder:
        run_case(Path(folder), "A4 scan", 1, A4_PX, LINES_PER_PAGE)
        run_case(Path(folder), "A4 scan", args.pages, A4_PX, LINES_PER_PAGE)
        run_case(Path(folder), "small page", args.many // 10, (200, 280), 4)
        run_case(Path(folder), "small page", args.many, (200, 280), 4)


if __name__ == "__main__":
    main()
