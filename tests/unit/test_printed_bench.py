"""The printed-page generator and the pure parts of the Tesseract comparison."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import ImageFont

from bench.printed_pages import (
    PageSpec,
    column_bounds,
    font_path,
    generate_pages,
    wrap,
)
from bench.printed_vs_tesseract import (
    EngineSpec,
    Tally,
    corrected_linn,
    parse_engine,
    rotated,
    summary_table,
)
from tests.conftest import FIXTURES

# Low resolution keeps these fast; the layout is the same at 300 dpi.
SMALL = (
    PageSpec("DejaVuSans.ttf", 10, dpi=60),
    PageSpec("LiberationSerif-Regular.ttf", 9, columns=2, rotation=0.5, dpi=50, jpeg_quality=40),
)


def test_pages_are_deterministic_per_seed() -> None:
    first, again, other = (generate_pages(seed, SMALL) for seed in (3, 3, 4))
    assert [p.text for p in first] == [p.text for p in again]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert [p.text for p in first] != [p.text for p in other]


def test_pages_are_a4_at_their_resolution_with_text() -> None:
    pages = generate_pages(0, SMALL)
    assert [p.image.shape for p in pages] == [(701, 496, 3), (584, 414, 3)]
    assert all(p.image.dtype == np.uint8 for p in pages)
    assert all(len(p.text.split()) > 20 for p in pages)
    assert len({p.name for p in pages}) == len(pages)


@pytest.mark.parametrize(
    ("width", "columns", "dpi", "expected"),
    [
        (2481, 1, 300, [(300, 2181)]),
        (2481, 2, 300, [(300, 1190), (1290, 2180)]),
        (1654, 2, 200, [(200, 794), (860, 1454)]),
    ],
)
def test_column_bounds(width: int, columns: int, dpi: int, expected: list[tuple[int, int]]) -> None:
    assert column_bounds(width, columns, dpi) == expected


@pytest.mark.parametrize(
    ("words", "width", "expected"),
    [
        (["aa", "bb", "cc"], 10_000, ["aa bb cc"]),
        (["aa", "bb", "cc"], 1, ["aa", "bb", "cc"]),  # an over-long word stands alone
        ([], 100, []),
    ],
)
def test_wrap(words: list[str], width: int, expected: list[str]) -> None:
    font = ImageFont.truetype(str(font_path("DejaVuSans.ttf")), 20)
    assert wrap(words, font, width) == expected


def test_wrapped_lines_fit() -> None:
    font = ImageFont.truetype(str(font_path("DejaVuSans.ttf")), 20)
    words = [random.Random(1).choice(["ledger", "of", "account"]) for _ in range(60)]
    lines = wrap(words, font, 300)
    assert " ".join(lines).split() == words
    assert all(font.getlength(line) <= 300 for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mixed", EngineSpec("mixed")),
        ("ppocr:threads=1", EngineSpec("ppocr", {"threads": "1"})),
        ("mixed:side=1280,limit=max", EngineSpec("mixed", {"side": "1280", "limit": "max"})),
    ],
)
def test_parse_engine(text: str, expected: EngineSpec) -> None:
    assert parse_engine(text) == expected
    assert expected.label == text


@pytest.mark.parametrize(
    "text", ["ppocr:colour=red", "ppocr:threads", "ppocr:=1", "tesseract:threads=1"]
)
def test_parse_engine_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_engine(text)


@pytest.mark.parametrize(
    ("start", "expected"), [(0, ["a", "b", "c"]), (1, ["b", "c", "a"]), (5, ["c", "a", "b"])]
)
def test_engine_order_rotates_page_by_page(start: int, expected: list[str]) -> None:
    specs = [EngineSpec(n) for n in "abc"]
    assert [s.name for s in rotated(specs, start)] == expected


def test_tally_pools_counts_and_summary_compares_with_tesseract() -> None:
    quire, tesseract = Tally(), Tally()
    quire.add("p1", "abcd efgh", "abcd efgh", wall=1.0, cpu=1.0)
    quire.add("p2", "ab cd", "ab cx", wall=1.0, cpu=1.0)
    tesseract.add("p1", "abcd efgh", "abcd", wall=2.0, cpu=4.0)
    tesseract.add("p2", "ab cd", "ab cd", wall=2.0, cpu=4.0)
    assert quire.chars.part == 1 and quire.chars.whole == 14
    assert (quire.recall.part, quire.recall.whole) == (3, 4)
    assert tesseract.per_page == {"p1": 5 / 9, "p2": 0.0}
    table = summary_table({"tesseract": tesseract, "mixed": quire})
    assert "| mixed | 2 | 7.14 % | 75.00 % | 75.00 % | 1.00 | 1.00 | 1.000 | 4.00 |" in table


def test_linn_errata_correct_the_shipped_transcript() -> None:
    shipped = (FIXTURES / "ocrmypdf_linn.txt").read_text(encoding="utf-8")
    corrected = corrected_linn(shipped)
    assert corrected.count("\u2022 ") == 19  # bullets, which the shipped file reads as "0 "
    assert "\n0 " not in corrected
    assert "8 MHz" in corrected and "FOOTSWITCH" in corrected and "or defeated" in corrected
    heading = corrected.index("Additional Features")
    assert heading < corrected.index("\u2022 Simple, easy")
    assert corrected.count("Additional Features") == 1


def test_linn_errata_fail_loudly_when_the_transcript_changes() -> None:
    with pytest.raises(ValueError, match="not found"):
        corrected_linn("a transcript without any of the mistakes")
