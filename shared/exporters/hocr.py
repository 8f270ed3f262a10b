"""hOCR 1.2: the result as XHTML, one ``ocr_page`` per page, words inside their lines.

Ids are 1-based positions: ``page_2``, ``block_2_1``, ``par_2_1``, ``line_2_3``,
``word_2_3_1``; ``ppageno`` is the page's 0-based index, as Tesseract writes it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from shared.exporters.markup import (
    Box,
    confidence,
    serialize,
    split_words,
    union_box,
    valid_box,
)
from shared.exporters.markup import xml_text as clean
from shared.schemas import LineOut, PageOut, ResultOut

XHTML_NS = "http://www.w3.org/1999/xhtml"
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"


def render(result: ResultOut, source_name: str = "") -> bytes:
    """The result as an hOCR document, UTF-8 XHTML with an XML declaration.

    Args:
        result: The job's result; pages without lines (unfinished, failed) are kept, empty.
        source_name: The uploaded file's name, written as each page's ``image``.

    Returns:
        The document's bytes.
    """
    html = ET.Element("html")
    html.text = "\n"
    _head(html, result, source_name)
    body = _block(html, "body", {})
    for number, page in enumerate(result.pages, start=1):
        _page(body, page, number, source_name)
    return serialize(html, XHTML_NS, html=True)


def _head(html: ET.Element, result: ResultOut, source_name: str) -> None:
    head = _block(html, "head", {})
    _block(head, "title", {}).text = clean(source_name or result.job_id)
    metas = {"ocr-system": "quire", "ocr-capabilities": CAPABILITIES}
    if result.model:
        metas["ocr-model"] = clean(result.model)
    _block(head, "meta", {"http-equiv": "Content-Type", "content": "text/html; charset=utf-8"})
    for name, content in metas.items():
        _block(head, "meta", {"name": name, "content": content})


def _page(body: ET.Element, page: PageOut, number: int, source_name: str) -> None:
    size = None
    if page.width is not None and page.height is not None:
        size = valid_box([0, 0, page.width, page.height])
    image = [f"image {_quoted(source_name)}"] if source_name else []
    props = [*image, *_bbox(size), f"ppageno {page.index}"]
    div = _block(body, "div", _ocr("ocr_page", f"page_{number}", props))
    if not page.lines:
        return
    boxes = [valid_box(line.bbox) for line in page.lines]
    around = _bbox(union_box(boxes))
    area = _block(div, "div", _ocr("ocr_carea", f"block_{number}_1", around))
    par = _block(area, "p", _ocr("ocr_par", f"par_{number}_1", around))
    for index, (line, box) in enumerate(zip(page.lines, boxes, strict=True), start=1):
        _line(par, line, box, f"{number}_{index}")


def _line(par: ET.Element, line: LineOut, box: Box | None, key: str) -> None:
    wconf = _wconf(line.confidence)
    span = ET.SubElement(par, "span", _ocr("ocr_line", f"line_{key}", _bbox(box) + wconf))
    span.tail = "\n"
    previous = None
    for index, word in enumerate(split_words(clean(line.text), box), start=1):
        if previous is not None:
            previous.tail = " "
        attrs = _ocr("ocrx_word", f"word_{key}_{index}", _bbox(word.box) + wconf)
        previous = ET.SubElement(span, "span", attrs)
        previous.text = word.text


def _block(parent: ET.Element, tag: str, attrs: dict[str, str]) -> ET.Element:
    """An element on a line of its own, so the document reads well; spans stay inline."""
    element = ET.SubElement(parent, tag, attrs)
    element.text = "\n" if tag not in ("title", "meta") else None
    element.tail = "\n"
    return element


def _ocr(kind: str, ident: str, props: list[str]) -> dict[str, str]:
    attrs = {"class": kind, "id": ident}
    if props:
        attrs["title"] = "; ".join(props)
    return attrs


def _bbox(box: Box | None) -> list[str]:
    return ["bbox {} {} {} {}".format(*box)] if box is not None else []


def _wconf(value: float) -> list[str]:
    known = confidence(value)
    return [f"x_wconf {round(known * 100)}"] if known is not None else []


def _quoted(value: str) -> str:
    """An hOCR string property value: double quotes, with ``\\`` and ``"`` escaped."""
    escaped = clean(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
