"""A small PAGE XML 2019-07-15 writer for synthetic ground truth.

Regions hold lines; each line has its Coords polygon, Baseline and TextEquiv/Unicode. The
output is deterministic (fixed timestamps, fixed attribute order), so a seed gives the same
bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd"
# Synthetic files carry no wall-clock time: the same seed must give the same bytes.
FIXED_TIMESTAMP = "2000-01-01T00:00:00"

Point = tuple[float, float]


@dataclass(frozen=True)
class PageLine:
    """One text line: its outline, its baseline and its transcription."""

    id: str
    text: str
    polygon: Sequence[Point]
    baseline: Sequence[Point]


@dataclass(frozen=True)
class PageRegion:
    """A text region and its lines in reading order; ``role`` goes to PAGE's ``custom``."""

    id: str
    polygon: Sequence[Point]
    lines: Sequence[PageLine]
    role: str = "paragraph"


def points_attr(points: Iterable[Point], width: int, height: int) -> str:
    """PAGE ``points``: ``x,y`` integer pairs clipped to the image, repeated points dropped."""
    out: list[str] = []
    for x, y in points:
        pair = f"{min(max(round(x), 0), width - 1)},{min(max(round(y), 0), height - 1)}"
        if not out or out[-1] != pair:
            out.append(pair)
    return " ".join(out)


def page_xml(
    image_name: str,
    width: int,
    height: int,
    regions: Sequence[PageRegion],
    creator: str = "quire synth",
) -> bytes:
    """The PAGE document for one image.

    Args:
        image_name: The image file name, relative to the XML (written beside it).
        width: Image width in px.
        height: Image height in px.
        regions: Text regions in reading order.
        creator: PAGE ``Metadata/Creator``.

    Returns:
        UTF-8 XML with its declaration.
    """
    ET.register_namespace("", PAGE_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_q("PcGts"), {f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION})
    meta = ET.SubElement(root, _q("Metadata"))
    for tag, text in (
        ("Creator", creator),
        ("Created", FIXED_TIMESTAMP),
        ("LastChange", FIXED_TIMESTAMP),
    ):
        ET.SubElement(meta, _q(tag)).text = text
    page = ET.SubElement(
        root,
        _q("Page"),
        {"imageFilename": image_name, "imageWidth": str(width), "imageHeight": str(height)},
    )
    if regions:
        order = ET.SubElement(
            ET.SubElement(page, _q("ReadingOrder")), _q("OrderedGroup"), {"id": "ro_1"}
        )
        for index, region in enumerate(regions):
            ET.SubElement(
                order, _q("RegionRefIndexed"), {"index": str(index), "regionRef": region.id}
            )
    for region in regions:
        _region(page, region, width, height)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _region(page: ET.Element, region: PageRegion, width: int, height: int) -> None:
    element = ET.SubElement(
        page,
        _q("TextRegion"),
        {
            "id": region.id,
            "type": "paragraph",
            "custom": f"structure {{type:{region.role};}}",
        },
    )
    ET.SubElement(element, _q("Coords"), {"points": points_attr(region.polygon, width, height)})
    for line in region.lines:
        node = ET.SubElement(element, _q("TextLine"), {"id": line.id})
        ET.SubElement(node, _q("Coords"), {"points": points_attr(line.polygon, width, height)})
        ET.SubElement(node, _q("Baseline"), {"points": points_attr(line.baseline, width, height)})
        _text_equiv(node, line.text)
    _text_equiv(element, "\n".join(line.text for line in region.lines))


def _text_equiv(parent: ET.Element, text: str) -> None:
    ET.SubElement(ET.SubElement(parent, _q("TextEquiv")), _q("Unicode")).text = text


def _q(tag: str) -> str:
    return f"{{{PAGE_NS}}}{tag}"


def write_page_xml(
    path: Path, image_name: str, width: int, height: int, regions: Sequence[PageRegion]
) -> None:
    """Write ``page_xml(...)`` to ``path``."""
    path.write_bytes(page_xml(image_name, width, height, regions))
