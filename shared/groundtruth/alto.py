"""ALTO (v2, v3, v4, or without a namespace) read into a raw ``GtPage``.

"Raw" means as the file writes it: ``image`` is the name ``sourceImageInformation/fileName``
gives, ``width``/``height`` the ``Page``'s declared size (0 where not declared), text is not
normalised, points are not clipped, and ``bbox`` is the line's ``HPOS/VPOS/WIDTH/HEIGHT``
box (``NO_BOX`` where it has none). ``shared.groundtruth.load`` turns it into the page
training uses. Only pixel coordinates are read: ``mm10`` and ``inch1200`` are refused.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from shared.groundtruth.geometry import NO_BOX, parse_dimension, parse_points
from shared.groundtruth.model import Box, GroundTruthError, GtLine, GtPage, GtProblem, Point
from shared.groundtruth.tree import lines_in_containers

_NAMESPACE = re.compile(r"http://www\.loc\.gov/standards/alto/ns-v(\d)#?")
VERSIONS = ("2", "3", "4")
PIXEL = "pixel"


def alto_version(root: ET.Element) -> str | None:
    """``"4"`` for an ALTO v4 root, ``""`` for one without a namespace, None if not ALTO."""
    if root.tag == "alto":
        return ""
    namespace, _, local = root.tag[1:].partition("}")
    match = _NAMESPACE.fullmatch(namespace)
    return match.group(1) if match and local == "alto" else None


def read_alto(root: ET.Element, source: Path) -> tuple[GtPage, list[GtProblem]]:
    """The page of an ALTO document, raw, and the lines left out because of bad coordinates.

    Args:
        root: The document's ``alto`` element.
        source: The XML file, recorded in the page and its problems.

    Returns:
        The page with every ``TextLine`` in document order, and an ``invalid_coords``
        problem per line whose box, polygon or baseline cannot be read.

    Raises:
        GroundTruthError: ``unknown_format`` for an ALTO version not supported;
            ``unsupported_unit`` for coordinates not in pixels; ``no_lines`` for a document
            without a ``Page``; ``multiple_pages`` for one with several (a ground-truth file
            describes one image).
    """
    version = alto_version(root)
    if version is None or (version and version not in VERSIONS):
        raise GroundTruthError("unknown_format", f"ALTO version {version!r} is not supported")
    ns = f"{{{root.tag[1:].partition('}')[0]}}}" if version else ""
    _check_unit(root, ns)
    page = _only_page(root, ns)
    tags = _tag_labels(root, ns)
    lines: list[GtLine] = []
    problems: list[GtProblem] = []
    for number, (element, block_id) in enumerate(_text_lines(page, ns), start=1):
        line_id = element.get("ID") or f"line-{number}"
        try:
            lines.append(_line(element, ns, line_id, block_id, tags))
        except ValueError as e:
            problems.append(GtProblem(source, "invalid_coords", str(e), line_id))
    raw = GtPage(
        source=source,
        image=Path(root.findtext(f"{ns}Description/{ns}sourceImageInformation/{ns}fileName", "")),
        width=parse_dimension(page.get("WIDTH")),
        height=parse_dimension(page.get("HEIGHT")),
        lines=tuple(lines),
        format=f"alto-{version}" if version else "alto",
    )
    return raw, problems


def _check_unit(root: ET.Element, ns: str) -> None:
    unit = root.findtext(f"{ns}Description/{ns}MeasurementUnit", PIXEL).strip() or PIXEL
    if unit != PIXEL:
        raise GroundTruthError(
            "unsupported_unit", f"coordinates in {unit!r}; only {PIXEL!r} is supported"
        )


def _only_page(root: ET.Element, ns: str) -> ET.Element:
    pages = root.findall(f"{ns}Layout/{ns}Page")
    if not pages:
        raise GroundTruthError("no_lines", "the document has no Layout/Page element")
    if len(pages) > 1:
        raise GroundTruthError("multiple_pages", f"{len(pages)} pages; ground truth has one")
    return pages[0]


def _tag_labels(root: ET.Element, ns: str) -> dict[str, str]:
    """``Tags/*`` (``OtherTag``, ``LayoutTag``, ...) by ``@ID``: their ``@LABEL``."""
    tags = root.find(f"{ns}Tags")
    if tags is None:
        return {}
    return {tag.get("ID", ""): tag.get("LABEL", "") for tag in tags if tag.get("LABEL")}


def _text_lines(page: ET.Element, ns: str) -> Iterator[tuple[ET.Element, str | None]]:
    """Every ``TextLine`` in document order with the id of the ``TextBlock`` holding it."""
    return lines_in_containers(page, f"{ns}TextLine", f"{ns}TextBlock", "ID")


def _line(
    element: ET.Element, ns: str, line_id: str, block_id: str | None, tags: dict[str, str]
) -> GtLine:
    box = _box(element)
    polygon = element.find(f"{ns}Shape/{ns}Polygon")
    points = parse_points(polygon.get("POINTS", "")) if polygon is not None else ()
    return GtLine(
        id=line_id,
        text=_line_text(element, ns),
        bbox=box,
        polygon=points or None,
        baseline=_baseline(element.get("BASELINE", ""), box) or None,
        line_type=_line_type(element.get("TAGREFS", ""), tags),
        region_id=block_id,
    )


def _box(element: ET.Element) -> Box:
    """``HPOS/VPOS/WIDTH/HEIGHT`` as ``(x0, y0, x1, y1)``; ``NO_BOX`` if one is missing."""
    values = [element.get(name) for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
    if None in values:
        return NO_BOX
    x, y, width, height = (_number(v or "") for v in values)
    return math.floor(x), math.floor(y), math.ceil(x + width), math.ceil(y + height)


def _baseline(value: str, box: Box) -> tuple[Point, ...]:
    """ALTO 4's baseline points; ALTO 2/3's single ``y`` as a segment across the line's box."""
    if not value.strip():
        return ()
    parts = value.split()
    if len(parts) == 1 and "," not in value:
        if box == NO_BOX:
            return ()
        y = _number(parts[0])
        return ((float(box[0]), y), (float(box[2]), y))
    return parse_points(value)


def _line_text(line: ET.Element, ns: str) -> str:
    """The ``String/@CONTENT`` joined by spaces; a ``HYP``'s content ends the word before it."""
    words: list[str] = []
    for child in line:
        content = child.get("CONTENT", "")
        if child.tag == f"{ns}String" and content:
            words.append(content)
        elif child.tag == f"{ns}HYP" and content and words:
            words[-1] += content
        elif child.tag == f"{ns}HYP" and content:
            words.append(content)
    return " ".join(words)


def _line_type(tagrefs: str, tags: dict[str, str]) -> str | None:
    """The label of the first of the line's ``TAGREFS`` that names a tag."""
    return next((tags[ref] for ref in tagrefs.split() if ref in tags), None)


def _number(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number
