"""PAGE XML (2019-07-15): one document per page, as the format holds a single ``Page``.

Each page with lines gets one ``TextRegion`` around them; each line a ``TextLine`` whose
``Coords`` is its box as four points and whose ``TextEquiv`` carries its text and confidence.
Ids are 1-based positions: ``region_2_1``, ``line_2_3``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from shared.exporters.markup import Box, format_confidence, serialize, union_box, valid_box
from shared.exporters.markup import xml_text as clean
from shared.schemas import LineOut, PageOut, ResultOut

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
SCHEMA_LOCATION = f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd"
XSI_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
NO_BOX: Box = (0, 0, 0, 0)  # Coords are required: a line without a box gets an empty one
NO_PAGE = PageOut(index=0, width=0, height=0, status="queued", text="", lines=[])


def render(result: ResultOut, source_name: str = "", *, now: datetime | None = None) -> bytes:
    """The first page of the result as a PAGE XML document (see ``render_pages``).

    Args:
        result: The job's result.
        source_name: The uploaded file's name, written as ``Page/@imageFilename``.
        now: The time written as ``Created`` and ``LastChange``; the current time if None.

    Returns:
        The first page's document; for a result with no page yet, a document whose
        ``Page`` has size 0 and no region.
    """
    first = result.pages[0] if result.pages else NO_PAGE
    return _document(result, first, 1, source_name, now)


def render_pages(
    result: ResultOut, source_name: str = "", *, now: datetime | None = None
) -> list[bytes]:
    """One PAGE XML document per page of the result, in page order.

    Args:
        result: The job's result; pages without lines (unfinished, failed) give a
            document whose ``Page`` has no region, and size 0 while it is not known.
        source_name: The uploaded file's name, written as ``Page/@imageFilename``.
        now: The time written as ``Created`` and ``LastChange``; the current time if None.

    Returns:
        The documents' bytes, UTF-8 with an XML declaration; empty for a result with no page.
    """
    return [
        _document(result, page, number, source_name, now)
        for number, page in enumerate(result.pages, start=1)
    ]


def _document(
    result: ResultOut, page: PageOut, number: int, source_name: str, now: datetime | None
) -> bytes:
    root = ET.Element("PcGts", {XSI_SCHEMA_LOCATION: SCHEMA_LOCATION})
    _metadata(root, result, page, now or datetime.now(UTC))
    attrs = {
        "imageFilename": clean(source_name),
        "imageWidth": str(max(0, page.width or 0)),
        "imageHeight": str(max(0, page.height or 0)),
    }
    element = ET.SubElement(root, "Page", attrs)
    if page.lines:
        _region(element, page, number)
    return serialize(root, PAGE_NS)


def _metadata(root: ET.Element, result: ResultOut, page: PageOut, now: datetime) -> None:
    metadata = ET.SubElement(root, "Metadata")
    stamp = now.isoformat(timespec="seconds")
    ET.SubElement(metadata, "Creator").text = "quire"
    ET.SubElement(metadata, "Created").text = stamp
    ET.SubElement(metadata, "LastChange").text = stamp
    notes = [f"job {result.job_id}"]
    if result.pages:
        notes.append(f"page {page.index + 1} of {len(result.pages)}")
    if result.model:
        notes.append(f"model {result.model}")
    ET.SubElement(metadata, "Comments").text = clean("; ".join(notes))


def _region(parent: ET.Element, page: PageOut, number: int) -> None:
    boxes = [valid_box(line.bbox) for line in page.lines]
    region = ET.SubElement(parent, "TextRegion", {"id": f"region_{number}_1"})
    ET.SubElement(region, "Coords", {"points": _points(union_box(boxes) or NO_BOX)})
    for index, (line, box) in enumerate(zip(page.lines, boxes, strict=True), start=1):
        _line(region, line, box, f"line_{number}_{index}")
    _text_equiv(region, page.text, None)


def _line(region: ET.Element, line: LineOut, box: Box | None, ident: str) -> None:
    element = ET.SubElement(region, "TextLine", {"id": ident})
    ET.SubElement(element, "Coords", {"points": _points(box or NO_BOX)})
    _text_equiv(element, line.text, format_confidence(line.confidence))


def _text_equiv(parent: ET.Element, text: str, conf: str | None) -> None:
    equiv = ET.SubElement(parent, "TextEquiv", {"conf": conf} if conf is not None else {})
    ET.SubElement(equiv, "Unicode").text = clean(text)


def _points(box: Box) -> str:
    """A box as PAGE points, clockwise from the top left: ``x0,y0 x1,y0 x1,y1 x0,y1``."""
    x0, y0, x1, y1 = box
    return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"
