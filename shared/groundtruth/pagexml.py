"""PAGE XML (2010-03-19, 2013-07-15, 2017-07-15, 2019-07-15) read into a raw ``GtPage``.

"Raw" means as the file writes it: ``image`` is the file name ``Page/@imageFilename`` gives,
``width``/``height`` are the declared size (0 where not declared), text is not normalised,
points are not clipped, and ``bbox`` is ``NO_BOX`` (PAGE gives lines a polygon, not a box).
``shared.groundtruth.load`` turns it into the page training uses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from shared.groundtruth.geometry import NO_BOX, parse_dimension, parse_points
from shared.groundtruth.model import GroundTruthError, GtLine, GtPage, GtProblem, Point
from shared.groundtruth.tree import lines_in_containers

NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
VERSIONS = ("2010-03-19", "2013-07-15", "2017-07-15", "2019-07-15")
_STRUCTURE_TYPE = re.compile(r"structure\s*\{[^}]*?\btype\s*:\s*([^;}]+)")


def page_version(root: ET.Element) -> str | None:
    """The PAGE schema date of a document's root (``"2019-07-15"``), None if it is not PAGE."""
    namespace, _, local = root.tag[1:].partition("}")
    if local != "PcGts" or not namespace.startswith(NAMESPACE_PREFIX):
        return None
    return namespace.removeprefix(NAMESPACE_PREFIX)


def read_pagexml(root: ET.Element, source: Path) -> tuple[GtPage, list[GtProblem]]:
    """The page of a PAGE XML document, raw, and the lines left out because of bad coordinates.

    Args:
        root: The document's ``PcGts`` element.
        source: The XML file, recorded in the page and its problems.

    Returns:
        The page with every ``TextLine`` in document order (nested regions included), and an
        ``invalid_coords`` problem per line whose points cannot be read.

    Raises:
        GroundTruthError: ``unknown_format`` for a PAGE version not supported; ``no_lines``
            for a document without a ``Page``.
    """
    version = page_version(root)
    if version not in VERSIONS:
        raise GroundTruthError("unknown_format", f"PAGE schema {version!r} is not supported")
    ns = f"{{{NAMESPACE_PREFIX}{version}}}"
    page = root.find(f"{ns}Page")
    if page is None:
        raise GroundTruthError("no_lines", "the document has no Page element")
    lines: list[GtLine] = []
    problems: list[GtProblem] = []
    for number, (element, region_id) in enumerate(_text_lines(page, ns), start=1):
        line_id = element.get("id") or f"line-{number}"
        try:
            lines.append(_line(element, ns, line_id, region_id))
        except ValueError as e:
            problems.append(GtProblem(source, "invalid_coords", str(e), line_id))
    raw = GtPage(
        source=source,
        image=Path(page.get("imageFilename", "")),
        width=parse_dimension(page.get("imageWidth")),
        height=parse_dimension(page.get("imageHeight")),
        lines=tuple(lines),
        format=f"page-{version}",
    )
    return raw, problems


def _text_lines(page: ET.Element, ns: str) -> Iterator[tuple[ET.Element, str | None]]:
    """Every ``TextLine`` in document order with the id of the ``TextRegion`` holding it."""
    return lines_in_containers(page, f"{ns}TextLine", f"{ns}TextRegion", "id")


def _line(element: ET.Element, ns: str, line_id: str, region_id: str | None) -> GtLine:
    polygon = _points(element.find(f"{ns}Coords"), ns)
    baseline = _points(element.find(f"{ns}Baseline"), ns)
    return GtLine(
        id=line_id,
        text=_line_text(element, ns),
        bbox=NO_BOX,
        polygon=polygon or None,
        baseline=baseline or None,
        line_type=_structure_type(element.get("custom", "")),
        region_id=region_id,
    )


def _points(element: ET.Element | None, ns: str) -> tuple[Point, ...]:
    """``@points``, or the PAGE 2010 ``<Point x= y=/>`` children; empty without either."""
    if element is None:
        return ()
    if "points" in element.attrib:
        return parse_points(element.attrib["points"])
    children = element.findall(f"{ns}Point")
    return parse_points(" ".join(f"{p.get('x', '')},{p.get('y', '')}" for p in children))


def _line_text(line: ET.Element, ns: str) -> str:
    """The line's own ``TextEquiv``; where it has no text, its words' joined by spaces."""
    text = _text_equiv(line, ns)
    if text.strip():
        return text
    words = (_text_equiv(word, ns).strip() for word in line.findall(f"{ns}Word"))
    return " ".join(word for word in words if word) or text


def _text_equiv(element: ET.Element, ns: str) -> str:
    """The text of the element's main ``TextEquiv``: the lowest ``@index``, none counting as 0.

    Ties go to the first in document order; ``Unicode`` is read, else ``PlainText``.
    """
    equivs = element.findall(f"{ns}TextEquiv")
    if not equivs:
        return ""
    main = min(enumerate(equivs), key=lambda item: (_index(item[1]), item[0]))[1]
    for name in ("Unicode", "PlainText"):
        child = main.find(f"{ns}{name}")
        if child is not None:
            return "".join(child.itertext())
    return ""


def _index(equiv: ET.Element) -> int:
    try:
        return int(equiv.get("index", "0"))
    except ValueError:
        return 1 << 30  # an index that is not a number never wins


def _structure_type(custom: str) -> str | None:
    """``heading`` from ``custom="readingOrder {index:0;} structure {type:heading;}"``."""
    match = _STRUCTURE_TYPE.search(custom)
    return (match.group(1).strip() or None) if match else None
