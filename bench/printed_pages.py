"""Printed pages with known text, for timing and scoring OCR engines on print.

Seeded and deterministic: the same seed gives the same pixels and the same text. Pages are A4
(at 300 dpi unless a spec says otherwise), one or two columns, 8-12 pt, in Debian's fonts
(DejaVu; Liberation where installed), slightly rotated, with scanner noise; one is
JPEG-compressed and one rendered at 200 dpi. The ground truth is the text in reading order
(left column, then right), one printed line per line.

    python -m bench.printed_pages OUT_DIR [--seed N]   # PNGs, transcripts and a PDF
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
)
A4_INCHES = (8.27, 11.69)
PROSE = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if so "
    "no more will who other into time than its only two may first any new some could these "
    "account invoice payment received balance order delivery customer number date total "
    "amount please note contract agreement period notice office department report annual "
    "statement reference letter request service charges insurance policy claim address "
    "company limited board meeting minutes schedule section clause terms conditions supplier "
    "quantity price tax value rate per month year week within following above below enclosed"
)
WORDS = tuple(PROSE.split())
LETTERS = "ABCDEFGHKLMNPRSTVWXYZ"


@dataclass(frozen=True)
class PageSpec:
    """How one page looks.

    Attributes:
        font: A font file name, looked up in ``FONT_DIRS`` (DejaVu stands in if it is absent).
        points: Font size in points.
        columns: 1 or 2.
        rotation: Degrees, counter-clockwise.
        noise: Standard deviation of the Gaussian scanner noise, in grey levels.
        dpi: Render resolution.
        jpeg_quality: Save as JPEG at this quality (None: lossless).
    """

    font: str
    points: float
    columns: int = 1
    rotation: float = 0.0
    noise: float = 6.0
    dpi: int = 300
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class PrintedPage:
    """A rendered page (H x W x 3, uint8, RGB) and its text in reading order."""

    name: str
    image: np.ndarray
    text: str


SPECS: tuple[PageSpec, ...] = (
    PageSpec("DejaVuSans.ttf", 10, rotation=0.3),
    PageSpec("DejaVuSerif.ttf", 11, rotation=-0.5),
    PageSpec("DejaVuSans.ttf", 9, columns=2, rotation=0.4),
    PageSpec("LiberationSerif-Regular.ttf", 10, columns=2, rotation=-0.3),
    PageSpec("LiberationSans-Regular.ttf", 12, rotation=0.8),
    PageSpec("DejaVuSansMono.ttf", 8, rotation=-0.2),
    PageSpec("DejaVuSerif.ttf", 10, columns=2, rotation=0.6, jpeg_quality=30),
    PageSpec("LiberationSans-Regular.ttf", 11, rotation=-0.7, dpi=200),
    PageSpec("DejaVuSans.ttf", 12, columns=2, rotation=-0.9, noise=12.0),
)


def font_path(name: str) -> Path:
    """The font file, or DejaVu Sans/Serif where a Liberation font is not installed."""
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    fallback = "DejaVuSerif.ttf" if "Serif" in name else "DejaVuSans.ttf"
    return FONT_DIRS[0] / fallback


def generate_pages(seed: int = 0, specs: Sequence[PageSpec] = SPECS) -> list[PrintedPage]:
    """One page per spec; page ``i`` draws from ``random.Random(seed * 1000 + i)``."""
    return [
        render_page(spec, random.Random(seed * 1000 + i), f"printed-{seed}-{i}")
        for i, spec in enumerate(specs)
    ]


def render_page(spec: PageSpec, rng: random.Random, name: str) -> PrintedPage:
    """Lay out text in columns, then rotate, add noise and compress as the spec says."""
    size = (round(A4_INCHES[0] * spec.dpi), round(A4_INCHES[1] * spec.dpi))
    font = ImageFont.truetype(str(font_path(spec.font)), round(spec.points * spec.dpi / 72))
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    lines = []
    for left, right in column_bounds(size[0], spec.columns, spec.dpi):
        lines += draw_column(draw, font, rng, (left, right), size[1], spec.dpi)
    return PrintedPage(name, scan(page, spec, rng), "\n".join(lines))


def column_bounds(width: int, columns: int, dpi: int) -> list[tuple[int, int]]:
    """Left and right x of each column: one-inch margins, a third of an inch between."""
    margin, gutter = dpi, dpi // 3
    span = (width - 2 * margin - gutter * (columns - 1)) // columns
    return [
        (margin + i * (span + gutter), margin + i * (span + gutter) + span) for i in range(columns)
    ]


def draw_column(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    rng: random.Random,
    bounds: tuple[int, int],
    height: int,
    dpi: int,
) -> list[str]:
    """Paragraphs down a column, to between half and four fifths of the page; the lines drawn."""
    step = round(font.size * 1.35)
    y, bottom = dpi, round(height * rng.uniform(0.5, 0.8))
    lines: list[str] = []
    while y + step < bottom:
        for line in wrap(paragraph(rng), font, bounds[1] - bounds[0]):
            if y + step >= bottom:
                break
            draw.text((bounds[0], y), line, fill=0, font=font)
            lines.append(line)
            y += step
        y += step // 2
    return lines


def paragraph(rng: random.Random) -> list[str]:
    """A few sentences of office prose, with numbers, dates and amounts among the words."""
    words: list[str] = []
    for _ in range(rng.randint(2, 4)):
        sentence = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
        sentence[0] = sentence[0].capitalize()
        sentence.insert(rng.randrange(len(sentence)), token(rng))
        sentence[-1] += rng.choice(".....;:")
        words += sentence
    return words


def token(rng: random.Random) -> str:
    """A number, date, amount or code as they appear on business letters."""
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randint(2, 9999))
    if kind == 1:
        return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1990, 2026)}"
    if kind == 2:
        return f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}"
    return f"{rng.choice(LETTERS)}{rng.choice(LETTERS)}-{rng.randint(100, 999)}"


def wrap(words: Sequence[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy line breaking at spaces (a word longer than the line stands alone)."""
    lines, current = [], ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if current and font.getlength(trial) > width:
            lines.append(current)
            trial = word
        current = trial
    return [*lines, current] if current else lines


def scan(page: Image.Image, spec: PageSpec, rng: random.Random) -> np.ndarray:
    """A scanner's take on a clean page: skew, a little blur, noise, maybe JPEG."""
    page = page.rotate(spec.rotation, resample=Image.Resampling.BILINEAR, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6 * spec.dpi / 300))
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, spec.noise, page.size[::-1])
    grey = np.clip(np.asarray(page, dtype=np.float32) * 0.92 + 12 + noise, 0, 255)
    image = Image.fromarray(grey.astype(np.uint8)).convert("RGB")
    if spec.jpeg_quality is not None:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=spec.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(image)


def write_pdf(pages: Sequence[PrintedPage], path: Path, dpi: int = 300) -> Path:
    """A multi-page PDF of ``pages`` (each page image embedded at ``dpi``)."""
    images = [Image.fromarray(page.image) for page in pages]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pages = generate_pages(args.seed)
    for page in pages:
        Image.fromarray(page.image).save(args.out / f"{page.name}.png")
        (args.out / f"{page.name}.txt").write_text(page.text + "\n", encoding="utf-8")
    write_pdf([p for p in pages if p.image.shape[0] > 3000][:3], args.out / "printed.pdf")
    print(f"{len(pages)} pages and printed.pdf in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
