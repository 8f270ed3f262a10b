"""The benchmark's Tesseract side: the Debian CLI reads a generated page, timed by its child."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.printed_pages import PageSpec, generate_pages
from bench.printed_vs_tesseract import Tally, tesseract_reader
from shared.textnorm import normalize_text
from tests.conftest import service_missing

pytestmark = pytest.mark.integration


def test_tesseract_reads_a_generated_page_and_its_cpu_time_is_counted(tmp_path: Path) -> None:
    if shutil.which("tesseract") is None:
        service_missing("the tesseract CLI (apt-get install tesseract-ocr tesseract-ocr-eng)")
    page = generate_pages(0, (PageSpec("DejaVuSans.ttf", 12, noise=3.0, dpi=200),))[0]
    text, wall, cpu = tesseract_reader(tmp_path)(page.image[:700])  # a few lines, to be quick
    tally = Tally()
    found = normalize_text(text)
    tally.add(page.name, normalize_text(page.text), found, wall, cpu)
    assert len(found.split()) > 20
    assert tally.precision.value is not None and tally.precision.value > 0.9  # words it read
    assert cpu > 0 and wall > 0
