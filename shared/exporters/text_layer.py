"""The invisible text of one page: where each line goes, and the content stream drawing it.

Every character of the glyphless font is ``GLYPH_WIDTH`` em wide, so a line drawn with its
horizontal scale (``Tz``) set to fill its box puts character ``i`` of ``n`` at ``i/n`` of the
box: the same word boxes the hOCR and ALTO exports give (``markup.split_words``). Lines are
drawn in reading order, one ``BT`` block each, in text render mode 3 (neither filled nor
stroked: invisible, but selectable and searchable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.exporters.markup import valid_box, xml_text
from shared.schemas import LineOut

GLYPH_WIDTH = 0.5  # advance of every glyph, in em
DESCENT = 0.2  # below the baseline, in em; the ascent is the rest of the em
_BLANKS = re.compile(r"\s")


@dataclass(frozen=True)
class TextRun:
    """A string drawn in display space: baseline origin, font size and horizontal scale.

    Attributes:
        text: What is drawn, one glyph per character.
        x: Left edge, points from the page's left as shown.
        baseline: Baseline height, points from the page's bottom as shown.
        size: Font size in points (the box's height).
        stretch: Horizontal scale in percent (``Tz``), so the run spans its box.
    """

    text: str
    x: float
    baseline: float
    size: float
    stretch: float


def drawable_text(text: str) -> str:
    """The text with every whitespace character a space and what cannot be encoded dropped.

    Control characters and lone surrogates would map to no Unicode a reader can show.
    """
    return _BLANKS.sub(" ", xml_text(text))


def line_run(
    text: str, bbox: Sequence[int], scale: tuple[float, float], page_height: float
) -> TextRun | None:
    """The run drawing ``text`` over ``bbox`` (page pixels); None if there is nothing to draw.

    Args:
        text: The line's text.
        bbox: ``[x0, y0, x1, y1]`` in page pixels, origin top left.
        scale: Points per pixel across and down.
        page_height: Height of the page as shown, in points.

    Returns:
        A run whose glyphs fill the box, or None for a blank line, a missing or empty box.
    """
    drawn = drawable_text(text)
    box = valid_box(bbox)
    if not drawn.strip() or box is None:
        return None
    sx, sy = scale
    width, size = (box[2] - box[0]) * sx, (box[3] - box[1]) * sy
    if width <= 0 or size <= 0:
        return None
    natural = len(drawn) * GLYPH_WIDTH * size
    bottom = page_height - box[3] * sy
    return TextRun(drawn, box[0] * sx, bottom + DESCENT * size, size, 100 * width / natural)


def page_runs(
    lines: Sequence[LineOut], scale: tuple[float, float], page_height: float
) -> list[TextRun]:
    """The runs of a page's lines, in reading order, blank and boxless lines left out."""
    runs = (line_run(line.text, line.bbox, scale, page_height) for line in lines)
    return [run for run in runs if run is not None]


def content_stream(runs: Sequence[TextRun], font: str, encode: Callable[[str], str]) -> bytes:
    """The page content drawing ``runs`` invisibly with font resource ``font``.

    Args:
        runs: What to draw, in reading order.
        font: The font's resource name, without the slash.
        encode: Hex string of the font's codes for a text.

    Returns:
        PDF content operators, ASCII.
    """
    # Tz is set inside each BT: poppler does not carry it across BT/ET.
    blocks = [
        f"BT\n/{font} {pdf_number(r.size)} Tf\n3 Tr\n{pdf_number(r.stretch)} Tz\n"
        f"1 0 0 1 {pdf_number(r.x)} {pdf_number(r.baseline)} Tm\n<{encode(r.text)}> Tj\nET\n"
        for r in runs
    ]
    return "".join(blocks).encode("ascii")


def pdf_number(value: float) -> str:
    """A PDF real with at most 3 decimals and no exponent (PDF syntax has none)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
