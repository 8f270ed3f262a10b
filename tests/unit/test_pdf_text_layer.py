"""The pure parts of the searchable PDF: page geometry, text runs, content streams, the font's
codes and maps, and the resolution an image is given."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from fontTools.ttLib import TTFont

from shared.exporters.glyphless_font import (
    REPLACEMENT,
    CodeBook,
    cid_to_gid_map,
    font_program,
    to_unicode_cmap,
)
from shared.exporters.image_pages import DEFAULT_DPI, credible_dpi
from shared.exporters.markup import split_words
from shared.exporters.pdf_geometry import (
    PageFrame,
    normal_box,
    normal_rotation,
    pixel_scale,
    visible_box,
)
from shared.exporters.searchable_pdf import add_text_layer
from shared.exporters.text_layer import (
    DESCENT,
    GLYPH_WIDTH,
    TextRun,
    content_stream,
    drawable_text,
    line_run,
    page_runs,
    pdf_number,
)
from shared.schemas import LineOut, PageOut, ResultOut

# --- geometry ---------------------------------------------------------------------------


def apply(matrix: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = matrix
    return a * x + c * y + e, b * x + d * y + f


BOX = (10.0, 20.0, 110.0, 220.0)  # 100 wide, 200 high, origin not at 0,0


@pytest.mark.parametrize(
    ("rotate", "size", "top_left", "top_right"),
    [
        # (display size), where the shown page's top-left and top-right corners are in user space
        (0, (100, 200), (10, 220), (110, 220)),
        (90, (200, 100), (10, 20), (10, 220)),  # turned clockwise: the left edge is on top
        (180, (100, 200), (110, 20), (10, 20)),
        (270, (200, 100), (110, 220), (110, 20)),
    ],
)
def test_the_frame_maps_the_shown_page_onto_user_space(
    rotate: int,
    size: tuple[float, float],
    top_left: tuple[float, float],
    top_right: tuple[float, float],
) -> None:
    frame = PageFrame(BOX, rotate)
    assert frame.size == size
    width, height = size
    assert apply(frame.matrix(), 0, height) == top_left
    assert apply(frame.matrix(), width, height) == top_right


@pytest.mark.parametrize(
    ("values", "box"),
    [
        ([0, 0, 612, 792], (0, 0, 612, 792)),
        ([612, 792, 0, 0], (0, 0, 612, 792)),  # corners in any order
        ([0, 0, 612], None),
        ([0, 0, float("nan"), 1], None),
    ],
)
def test_normal_box(values: list[float], box: tuple[float, ...] | None) -> None:
    assert normal_box(values) == box


@pytest.mark.parametrize(
    ("crop", "visible"),
    [
        (None, (0, 0, 600, 800)),
        ((50, 60, 550, 700), (50, 60, 550, 700)),
        ((-10, 700, 610, 900), (0, 700, 600, 800)),  # clipped to the MediaBox
        ((700, 0, 900, 100), (0, 0, 600, 800)),  # outside it: the MediaBox
    ],
)
def test_visible_box(crop: tuple[float, ...] | None, visible: tuple[float, ...]) -> None:
    assert visible_box((0, 0, 600, 800), crop) == visible  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "rotation"),
    [(0, 0), (90, 90), (-90, 270), (450, 90), (180.0, 180), (45, 0), (float("inf"), 0)],
)
def test_normal_rotation(value: float, rotation: int) -> None:
    assert normal_rotation(value) == rotation


@pytest.mark.parametrize(
    ("frame", "size", "scale"),
    [
        (PageFrame((0, 0, 72, 144), 0), (200, 400), (0.36, 0.36)),
        (PageFrame((0, 0, 72, 144), 90), (400, 200), (0.36, 0.36)),
        (PageFrame((0, 0, 72, 144), 0), (None, 400), None),
        (PageFrame((0, 0, 72, 144), 0), (0, 400), None),
    ],
)
def test_pixel_scale(
    frame: PageFrame, size: tuple[int | None, int | None], scale: tuple[float, float] | None
) -> None:
    assert pixel_scale(frame, *size) == scale


# --- text runs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "drawn"),
    [
        ("plain", "plain"),
        ("tab\there", "tab here"),
        ("bell\x07!", "bell!"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("e\u0301 \u017f ß 😀", "e\u0301 \u017f ß 😀"),
    ],
)
def test_drawable_text(text: str, drawn: str) -> None:
    assert drawable_text(text) == drawn


def test_a_line_run_fills_its_box() -> None:
    # 400 x 50 px at 0.5 pt/px on a page 300 pt high: a box 200 pt wide and 25 pt high.
    run = line_run("abcd", [100, 100, 500, 150], (0.5, 0.5), 300)
    assert run == TextRun("abcd", 50, 300 - 75 + DESCENT * 25, 25, 100 * 200 / (4 * 0.5 * 25))
    natural = len(run.text) * GLYPH_WIDTH * run.size
    assert natural * run.stretch / 100 == pytest.approx(200)


@pytest.mark.parametrize(
    ("text", "bbox"),
    [
        ("", [0, 0, 10, 10]),
        ("  \t", [0, 0, 10, 10]),
        ("no box", []),
        ("upside down", [50, 60, 40, 70]),
        ("flat", [0, 10, 100, 10]),
        ("thin", [10, 0, 10, 100]),
    ],
)
def test_nothing_is_drawn_for_a_blank_line_or_a_box_that_is_not_one(
    text: str, bbox: list[int]
) -> None:
    assert line_run(text, bbox, (1.0, 1.0), 100) is None


def test_glyph_positions_are_the_word_boxes_the_xml_exports_give() -> None:
    text, bbox = "Dear Sir, I write", (100, 180, 640, 220)
    run = line_run(text, bbox, (1.0, 1.0), 1000)
    assert run is not None
    advance = GLYPH_WIDTH * run.size * run.stretch / 100
    for word in split_words(text, bbox):
        start = text.index(word.text)
        assert word.box is not None
        assert run.x + start * advance == pytest.approx(word.box[0], abs=0.5)
        assert run.x + (start + len(word.text)) * advance == pytest.approx(word.box[2], abs=0.5)


def test_page_runs_keep_reading_order_and_drop_what_cannot_be_drawn() -> None:
    lines = [
        LineOut(text="first", confidence=0.9, bbox=[0, 0, 50, 10]),
        LineOut(text="", confidence=0.9, bbox=[0, 20, 50, 30]),
        LineOut(text="third", confidence=0.9, bbox=[0, 40, 50, 50]),
    ]
    assert [r.text for r in page_runs(lines, (1.0, 1.0), 100)] == ["first", "third"]


def test_content_stream_draws_each_run_invisibly_in_its_own_block() -> None:
    runs = [TextRun("ab", 10, 20.5, 12, 95.25), TextRun("c", 0, 0, 1, 100)]
    stream = content_stream(runs, "F1", lambda text: "".join(f"{ord(c):04X}" for c in text))
    assert stream == (
        b"BT\n/F1 12 Tf\n3 Tr\n95.25 Tz\n1 0 0 1 10 20.5 Tm\n<00610062> Tj\nET\n"
        b"BT\n/F1 1 Tf\n3 Tr\n100 Tz\n1 0 0 1 0 0 Tm\n<0063> Tj\nET\n"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (1 / 3, "0.333"),
        (-0.0001, "0"),
        (1e-7, "0"),
        (12345.6789, "12345.679"),
    ],
)
def test_pdf_number(value: float, text: str) -> None:
    assert pdf_number(value) == text


# --- the font ---------------------------------------------------------------------------


def test_codes_are_given_in_order_of_first_use() -> None:
    book = CodeBook()
    assert book.encode("abca") == "0001000200030001"
    assert book.encode("😀b") == "00040002"
    assert book.characters == ["a", "b", "c", "😀"]


def test_past_the_last_code_characters_read_as_the_replacement_character() -> None:
    book = CodeBook(limit=4)
    assert book.encode("abcde") == "0001000200030004" + "0004"
    assert book.characters == ["a", "b", "c", REPLACEMENT]
    assert book.encode("a") == "0001"


def test_to_unicode_cmap_maps_each_code_to_its_character() -> None:
    cmap = to_unicode_cmap(["é", "😀"]).decode("ascii")
    assert "2 beginbfchar\n<0001> <00E9>\n<0002> <D83DDE00>\nendbfchar\n" in cmap
    assert "<0000> <FFFF>" in cmap


def test_to_unicode_cmap_blocks_hold_at_most_100_entries() -> None:
    cmap = to_unicode_cmap([chr(0x4E00 + i) for i in range(250)]).decode("ascii")
    assert [line for line in cmap.splitlines() if line.endswith("beginbfchar")] == [
        "100 beginbfchar",
        "100 beginbfchar",
        "50 beginbfchar",
    ]


def test_cid_to_gid_map_sends_every_code_but_0_to_the_blank_glyph() -> None:
    assert cid_to_gid_map(3) == b"\x00\x00\x00\x01\x00\x01\x00\x01"


def test_the_font_program_has_one_box_glyph_half_an_em_wide() -> None:
    font = TTFont(io.BytesIO(font_program()))
    assert font.getGlyphOrder() == [".notdef", "blank"]
    assert font["head"].unitsPerEm == 1000
    assert font["hmtx"]["blank"] == (500, 0)
    glyph = font["glyf"]["blank"]
    glyph.recalcBounds(font["glyf"])
    assert glyph.numberOfContours == 1  # full height: search hits highlight the words
    assert (glyph.xMin, glyph.yMin, glyph.xMax, glyph.yMax) == (0, -200, 500, 800)


def test_a_search_hit_covers_the_height_of_its_line(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    out = tmp_path / "one.pdf"
    document = pikepdf.new()
    document.add_blank_page(page_size=(600, 200))
    result = ResultOut(
        job_id="j",
        status="succeeded",
        text="find me",
        model=None,
        pages=[
            PageOut(
                index=0,
                width=600,
                height=200,
                status="succeeded",
                text="find me",
                lines=[LineOut(text="find me", confidence=1.0, bbox=[100, 50, 400, 110])],
            )
        ],
    )
    add_text_layer(document, result)
    document.save(out)
    page = pdfium.PdfDocument(str(out))[0]
    text = page.get_textpage()
    hit = text.search("me", match_whole_word=True).get_next()
    assert hit is not None
    text.count_rects(*hit)
    _, bottom, _, top = text.get_rect(0)
    assert top - bottom > 0.8 * 60  # the line box is 60 px (points at 72 dpi) high


# --- image resolution -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpi", "used"),
    [
        ((300, 300), (300.0, 300.0)),
        ((200.0, 400.0), (200.0, 400.0)),
        ((72, 72), (DEFAULT_DPI, DEFAULT_DPI)),  # a screen default, not a scan's
        ((1, 1), (DEFAULT_DPI, DEFAULT_DPI)),  # JFIF aspect ratio only
        (None, (DEFAULT_DPI, DEFAULT_DPI)),
        ((300,), (DEFAULT_DPI, DEFAULT_DPI)),
        (("x", 300), (DEFAULT_DPI, DEFAULT_DPI)),
    ],
)
def test_credible_dpi(dpi: object, used: tuple[float, float]) -> None:
    assert credible_dpi(dpi) == used
