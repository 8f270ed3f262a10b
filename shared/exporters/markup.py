"""What the XML exporters share: XML-safe text, page boxes, words in a line, serialization."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import NamedTuple

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels

# Characters XML 1.0 forbids: C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NEWLINES = re.compile("\r\n?")
_WORD = re.compile(r"\S+")


class Word(NamedTuple):
    """A whitespace-separated word of a line, with its share of the line's box."""

    text: str
    box: Box | None


def xml_text(value: str) -> str:
    """``value`` with what XML 1.0 cannot hold removed and line ends made ``\\n``.

    Args:
        value: Any text, possibly with control characters or lone surrogates.

    Returns:
        Text ElementTree can write and any XML parser reads back unchanged.
    """
    return _NOT_XML.sub("", _NEWLINES.sub("\n", value))


def valid_box(bbox: Sequence[int]) -> Box | None:
    """The box as ``(x0, y0, x1, y1)`` if it is one, else None.

    Negative coordinates are clamped to 0 (a box just past the page edge); a box with the
    wrong number of values or with ``x1 < x0`` or ``y1 < y0`` is not a box.
    """
    if len(bbox) != 4:
        return None
    x0, y0, x1, y1 = (max(0, int(v)) for v in bbox)
    if x1 < x0 or y1 < y0:
        return None
    return x0, y0, x1, y1


def union_box(boxes: Iterable[Box | None]) -> Box | None:
    """The smallest box holding every given box; None when none is given."""
    known = [b for b in boxes if b is not None]
    if not known:
        return None
    return (
        min(b[0] for b in known),
        min(b[1] for b in known),
        max(b[2] for b in known),
        max(b[3] for b in known),
    )


def split_words(text: str, box: Box | None) -> list[Word]:
    """The words of a line, each with the part of the line's box its characters take.

    The line's width is shared out in proportion to character positions, spaces included:
    a word starting at character ``s`` and ending before ``e`` of ``n`` spans
    ``x0 + w*s/n`` to ``x0 + w*e/n``, rounded half up. Every word has the line's height.

    Args:
        text: The line's text.
        box: The line's box, or None when it has none (then no word has a box).

    Returns:
        The words in order; empty for a blank line.
    """
    spans = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    if box is None:
        return [Word(word, None) for word, _, _ in spans]
    x0, y0, x1, y1 = box
    width, n = x1 - x0, len(text)

    def at(offset: int) -> int:
        return x0 + (2 * width * offset + n) // (2 * n)

    return [Word(word, (at(start), y0, at(end), y1)) for word, start, end in spans]


def confidence(value: float) -> float | None:
    """A confidence clamped to [0, 1]; None when it is not a number."""
    if math.isnan(value):
        return None
    return min(1.0, max(0.0, value))


def format_confidence(value: float) -> str | None:
    """A confidence in [0, 1] written with at most 4 decimals (``0.93``, ``1``)."""
    clamped = confidence(value)
    if clamped is None:
        return None
    return f"{clamped:.4f}".rstrip("0").rstrip(".")


def serialize(root: ET.Element, namespace: str, *, html: bool = False) -> bytes:
    """A UTF-8 document with an XML declaration, its elements in the default ``namespace``.

    Args:
        root: The root element; its tags and their children's are unqualified names.
        namespace: The namespace of every unqualified element.
        html: Whether browsers will read it as HTML: then it is not indented (whitespace
            between words is content) and no element is written as ``<x/>``, which an HTML
            parser takes for an opening tag.
    """
    # ElementTree's default_namespace option refuses unqualified attribute names, so the
    # namespace is declared by hand.
    root.attrib = {"xmlns": namespace, **root.attrib}
    if not html:
        ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, short_empty_elements=not html)
