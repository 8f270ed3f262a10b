"""ALTO v4: one ``Page`` per result page, one ``TextBlock`` of ``TextLine``s, a ``String`` per word.

Word boxes are the line's box shared out by character position (``split_words``); every
word carries its line's confidence. Ids are 1-based positions: ``page_2``, ``block_2_1``,
``line_2_3``, ``string_2_3_1``. The document uses no element or attribute newer than ALTO
4.2, so it is valid against the 4.2 schema it names and every later 4.x one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shared.exporters.markup import (
    Box,
    Word,
    format_confidence,
    serialize,
    split_words,
    union_box,
    valid_box,
)
from shared.exporters.markup import xml_text as clean
from shared.schemas import LineOut, PageOut, ResultOut

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_VERSION = "4.2"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
XSI_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
# Layout must hold a Page: a result with no page yet gets an empty one.
NO_PAGE = PageOut(index=0, width=0, height=0, status="queued", text="", lines=[])


def render(result: ResultOut, source_name: str = "") -> bytes:
    """The result as an ALTO v4 document, UTF-8 with an XML declaration.

    Args:
        result: The job's result; pages without lines (unfinished, failed) are kept, empty,
            with 0 for a size not known yet; a result with no page gets one such page.
        source_name: The uploaded file's name, written as ``sourceImageInformation/fileName``.

    Returns:
        The document's bytes.
    """
    alto = ET.Element(
        "alto", {XSI_SCHEMA_LOCATION: SCHEMA_LOCATION, "SCHEMAVERSION": SCHEMA_VERSION}
    )
    _description(alto, result, source_name)
    layout = ET.SubElement(alto, "Layout")
    for number, page in enumerate(result.pages or [NO_PAGE], start=1):
        _page(layout, page, number)
    return serialize(alto, ALTO_NS)


def _description(alto: ET.Element, result: ResultOut, source_name: str) -> None:
    description = ET.SubElement(alto, "Description")
    ET.SubElement(description, "MeasurementUnit").text = "pixel"
    if source_name:
        source = ET.SubElement(description, "sourceImageInformation")
        ET.SubElement(source, "fileName").text = clean(source_name)
    processing = ET.SubElement(description, "OCRProcessing", {"ID": "ocr_1"})
    step = ET.SubElement(processing, "ocrProcessingStep")
    ET.SubElement(step, "processingCategory").text = "contentGeneration"
    if result.model:
        ET.SubElement(step, "processingStepSettings").text = f"model: {clean(result.model)}"
    software = ET.SubElement(step, "processingSoftware")
    ET.SubElement(software, "softwareName").text = "quire"


def _page(layout: ET.Element, page: PageOut, number: int) -> None:
    width, height = max(0, page.width or 0), max(0, page.height or 0)
    attrs = {"ID": f"page_{number}", "PHYSICAL_IMG_NR": str(page.index + 1)}
    element = ET.SubElement(layout, "Page", attrs | _size(width, height))
    space = ET.SubElement(element, "PrintSpace", {"HPOS": "0", "VPOS": "0"})
    space.attrib |= _size(width, height)
    if not page.lines:
        return
    boxes = [valid_box(line.bbox) for line in page.lines]
    block = ET.SubElement(space, "TextBlock", {"ID": f"block_{number}_1"})
    block.attrib |= _geometry(union_box(boxes))
    for index, (line, box) in enumerate(zip(page.lines, boxes, strict=True), start=1):
        _line(block, line, box, f"{number}_{index}")


def _line(block: ET.Element, line: LineOut, box: Box | None, key: str) -> None:
    element = ET.SubElement(block, "TextLine", {"ID": f"line_{key}"} | _geometry(box))
    text = clean(line.text)
    # A TextLine must hold a String: a blank line gets one with empty CONTENT.
    words = split_words(text, box) or [Word("", box)]
    wc = format_confidence(line.confidence)
    for index, word in enumerate(words, start=1):
        if index > 1:
            _space(element, words[index - 2].box, word.box)
        attrs = {"ID": f"string_{key}_{index}"} | _geometry(word.box)
        attrs["CONTENT"] = word.text
        if wc is not None:
            attrs["WC"] = wc
        ET.SubElement(element, "String", attrs)


def _space(line: ET.Element, before: Box | None, after: Box | None) -> None:
    """An ``SP`` between two words, over the gap between their boxes when both have one."""
    gap = None
    if before is not None and after is not None:
        gap = valid_box([before[2], before[1], after[0], before[3]])
    ET.SubElement(line, "SP", _geometry(gap))


def _size(width: int, height: int) -> dict[str, str]:
    return {"WIDTH": str(width), "HEIGHT": str(height)}


def _geometry(box: Box | None) -> dict[str, str]:
    """``HPOS``/``VPOS``/``WIDTH``/``HEIGHT`` of a box; nothing for a box not known."""
    if box is None:
        return {}
    x0, y0, x1, y1 = box
    return {"HPOS": str(x0), "VPOS": str(y0)} | _size(x1 - x0, y1 - y0)
