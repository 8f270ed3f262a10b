"""Render the README's searchable-PDF screenshot from a real run.

A scan is read by an engine, its searchable PDF is written as ``format=pdf`` writes it, and
PDFium (the engine of Chromium's PDF viewer) searches the PDF's text for a word; every hit is
drawn as a highlight over the rendered page, as a reader's search shows it.

    .venv/bin/python docs/pdf_search_screenshot.py ../shared/data/ocrmypdf_linn.png \\
        --word the --out docs/img/searchable_pdf_search.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import media
from shared.exporters.searchable_pdf import write_searchable_pdf
from shared.schemas import LineOut, PageOut, ResultOut
from shared.settings import Settings
from worker.engines.registry import build_engine
from worker.images import decode_page

SCALE = 1.0  # render at 72 dpi: a screenshot, not an archive


def read_result(scan: Path, engine_name: str, data_dir: Path) -> ResultOut:
    """The scan's result as the API serves it, from a real engine run."""
    settings = Settings(engine=engine_name, data_dir=data_dir)
    engine = build_engine(settings)
    page = engine.run([decode_page(scan.read_bytes(), settings.max_image_pixels)])[0]
    lines = [LineOut(text=x.text, confidence=x.confidence, bbox=list(x.bbox)) for x in page.lines]
    out = PageOut(
        index=0,
        width=page.width,
        height=page.height,
        status="succeeded",
        text=page.text,
        lines=lines,
    )
    return ResultOut(
        job_id="screenshot", status="succeeded", text=page.text, model=engine.name, pages=[out]
    )


def highlight_hits(pdf_path: Path, word: str) -> tuple[Image.Image, int]:
    """The first page rendered, each PDFium search hit for ``word`` highlighted."""
    document = pdfium.PdfDocument(str(pdf_path))
    page = document[0]
    image = page.render(scale=SCALE).to_pil().convert("RGB")
    height = page.get_height()
    text = page.get_textpage()
    searcher = text.search(word, match_case=False, match_whole_word=True)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    hits = 0
    while (found := searcher.get_next()) is not None:
        index, count = found
        for i in range(text.count_rects(index, count)):
            left, bottom, right, top = text.get_rect(i)
            box = [left * SCALE, (height - top) * SCALE, right * SCALE, (height - bottom) * SCALE]
            draw.rectangle(box, fill=(255, 200, 0, 120))
        hits += 1
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"), hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scan", type=Path)
    parser.add_argument("--word", default="the")
    parser.add_argument("--engine", default="ppocr")
    parser.add_argument("--crop", type=int, default=360, help="keep the top N rendered px")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = read_result(args.scan, args.engine, Path(work))
        pdf_path = Path(work) / "scan.pdf"
        kind = media.sniff(args.scan.read_bytes()[:64])
        if kind is None:
            parser.error(f"{args.scan} is no image or PDF quire reads")
        write_searchable_pdf(args.scan, kind.mime, result, pdf_path)
        shot, hits = highlight_hits(pdf_path, args.word)
    shot = shot.crop((0, 0, shot.width, min(shot.height, args.crop)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(args.out, optimize=True)
    print(f"{hits} hits for {args.word!r}; wrote {args.out} ({shot.width}x{shot.height})")


if __name__ == "__main__":
    main()
