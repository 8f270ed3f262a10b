"""``quire eval`` end to end: a printed page and its PAGE XML on disk, the real PP-OCR engine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from cli import eval_cmd
from shared.exporters.pagexml import render_pages
from shared.schemas import LineOut, PageOut, ResultOut
from shared.settings import Settings
from tests.conftest import FONT

LINES = (
    "The quick brown fox jumps",
    "Ledger of the parish, 1887",
    "Received in March",
)
PADDING = 10  # a transcriber's line box sits a little outside the ink


def write_ground_truth(folder: Path) -> None:
    """A white page with LINES printed large, and its PAGE XML from quire's own exporter."""
    font = ImageFont.truetype(str(FONT), 64)
    image = Image.new("RGB", (1600, 620), "white")
    draw = ImageDraw.Draw(image)
    boxes = []
    for index, text in enumerate(LINES):
        origin = (100, 80 + index * 170)
        draw.text(origin, text, fill="black", font=font)
        x0, y0, x1, y1 = draw.textbbox(origin, text, font=font)
        boxes.append([x0 - PADDING, y0 - PADDING, x1 + PADDING, y1 + PADDING])
    image.save(folder / "page.png")
    lines = [LineOut(text=t, confidence=1.0, bbox=b) for t, b in zip(LINES, boxes, strict=True)]
    page = PageOut(index=0, width=1600, height=620, status="succeeded", text="", lines=lines)
    result = ResultOut(job_id="gt", status="succeeded", text="", model=None, pages=[page])
    (folder / "page.xml").write_bytes(render_pages(result, "page.png")[0])


def quire_eval(*words: str, settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="quire")
    eval_cmd.register(parser.add_subparsers(dest="command"))
    return eval_cmd.run(parser.parse_args(["eval", *words]), settings)


def test_quire_eval_scores_ppocr_on_clean_printed_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "gt"
    truth.mkdir()
    write_ground_truth(truth)
    out = tmp_path / "out.json"
    settings = Settings(data_dir=tmp_path / "quire")
    code = quire_eval(
        "--engine", "ppocr", "--gt", str(truth), "--json", str(out), settings=settings
    )
    assert code == 0
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    (report,) = document["reports"]
    totals = report["totals"]
    assert report["engine"] == "ppocr"
    assert report["model"].startswith("ppocrv5-det")
    assert (totals["pages"], totals["truth_lines"]) == (1, len(LINES))
    assert totals["line_recall"]["0.5"] == 1.0, totals
    assert totals["line_precision"]["0.5"] == 1.0, totals
    assert totals["cer"] <= 0.05, totals
    assert totals["word_recall"] >= 0.9, totals
    assert totals["seconds_per_page"] > 0
    assert "| **total** |" in capsys.readouterr().out


def test_quire_eval_without_ground_truth_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = quire_eval("--gt", str(tmp_path), settings=Settings(data_dir=tmp_path / "quire"))
    assert code == 2
    assert "no ground-truth page" in capsys.readouterr().err
