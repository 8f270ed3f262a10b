"""Result exporters: the registry, plain text and JSON, and the hOCR, ALTO and PAGE documents.

The XML documents are checked with ElementTree (namespaces, element order, geometry, text)
and, where the schemas are installed, against the ALTO 4 and PAGE 2019 XSDs offline.
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.exporters import FORMATS, export, parse_formats
from shared.exporters import pagexml as pagexml_module
from shared.exporters.markup import (
    format_confidence,
    split_words,
    union_box,
    valid_box,
    xml_text,
)
from shared.results import PAGE_SEPARATOR, render_text
from shared.schemas import ErrorInfo, LineOut, PageOut, ResultOut
from tests.conftest import service_missing

ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
PAGE = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"
XHTML = "{http://www.w3.org/1999/xhtml}"
XML_FORMATS = ["hocr", "alto", "pagexml"]
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
SOURCE = "box1/p3.pdf"
# Markup characters, emoji, right-to-left Hebrew, a combining accent, a BEL control character.
ODD = "a<b & c>\"d' 😀 שלום e\u0301\x07!"
ODD_CLEAN = "a<b & c>\"d' 😀 שלום e\u0301!"


# --- building results -------------------------------------------------------------------


def line(text: str, bbox: list[int], confidence: float = 0.9) -> LineOut:
    return LineOut(text=text, confidence=confidence, bbox=bbox)


def page(
    index: int,
    lines: list[LineOut],
    size: tuple[int, int] | None = (1000, 1400),
    status: str = "succeeded",
    error: ErrorInfo | None = None,
) -> PageOut:
    width, height = size if size else (None, None)
    text = "\n".join(item.text for item in lines)
    return PageOut(
        index=index,
        width=width,
        height=height,
        status=status,
        text=text,
        lines=lines,
        error=error,
    )


def result(*pages: PageOut, model: str | None = "ppocr", status: str = "succeeded") -> ResultOut:
    text = PAGE_SEPARATOR.join(p.text for p in pages)
    return ResultOut(job_id="job-1", status=status, text=text, model=model, pages=list(pages))


TWO_PAGES = result(
    page(
        0,
        [
            line("Dear Sir,", [100, 120, 400, 160], 0.93),
            line("I write to you", [100, 180, 640, 220], 0.5),
        ],
    ),
    page(1, [line("Yours", [80, 90, 300, 130], 1.0)], size=(800, 600)),
)
PARTIAL = result(
    page(0, [line("first", [10, 10, 110, 40])]),
    page(1, [], status="failed", error=ErrorInfo(code="corrupt_image", message="bad")),
    page(2, [], size=None, status="queued"),
    status="partial",
)
NOTHING_YET = result(model=None, status="queued")
ODD_TEXT = result(page(0, [line(ODD, [5, 5, 505, 45], 0.87654), line("", [5, 50, 505, 90])]))
BAD_BOX = result(page(0, [line("no box", []), line("upside down", [50, 60, 40, 70])]))
SAMPLES = {
    "two_pages": TWO_PAGES,
    "partial": PARTIAL,
    "nothing_yet": NOTHING_YET,
    "odd_text": ODD_TEXT,
    "bad_box": BAD_BOX,
}


def parse(document: bytes) -> ET.Element:
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(document)


def find(root: ET.Element, path: str) -> ET.Element:
    element = root.find(path)
    assert element is not None, path
    return element


def children(element: ET.Element) -> list[str]:
    return [child.tag.split("}")[1] for child in element]


def ids(root: ET.Element, attribute: str) -> list[str]:
    return [e.attrib[attribute] for e in root.iter() if attribute in e.attrib]


# --- the registry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "media_type", "suffix"),
    [
        ("json", "application/json", ".json"),
        ("txt", "text/plain; charset=utf-8", ".txt"),
        ("hocr", "text/html; charset=utf-8", ".hocr.html"),
        ("alto", "application/xml", ".alto.xml"),
        ("pagexml", "application/xml", ".page.xml"),
    ],
)
def test_formats_have_their_media_type_and_suffix(name: str, media_type: str, suffix: str) -> None:
    fmt = FORMATS[name]
    assert (fmt.name, fmt.media_type, fmt.suffix) == (name, media_type, suffix)
    assert fmt.render is not None
    assert fmt.render(TWO_PAGES, SOURCE) == export(TWO_PAGES, name, SOURCE)


def test_the_registry_holds_the_contract_formats_in_order() -> None:
    assert list(FORMATS) == ["json", "txt", "hocr", "alto", "pagexml", "pdf"]
    assert [name for name, fmt in FORMATS.items() if fmt.needs_source] == ["pdf"]


def test_pdf_is_built_over_the_upload_not_rendered_from_the_result() -> None:
    fmt = FORMATS["pdf"]
    assert (fmt.media_type, fmt.suffix, fmt.render) == ("application/pdf", ".pdf", None)
    with pytest.raises(ValueError, match="built over the uploaded file"):
        export(TWO_PAGES, "pdf")


@pytest.mark.parametrize("fmt", ["docx", "", "JSON", "all"])
def test_export_of_an_unknown_format_is_a_value_error_naming_the_valid_ones(fmt: str) -> None:
    with pytest.raises(ValueError, match="valid formats: json, txt, hocr, alto, pagexml, pdf"):
        export(TWO_PAGES, fmt)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ["json"]),
        ("   ", ["json"]),
        ("txt", ["txt"]),
        ("txt,alto", ["txt", "alto"]),
        (" alto , txt ", ["alto", "txt"]),
        ("pagexml,json,hocr", ["pagexml", "json", "hocr"]),
        ("pdf,txt", ["pdf", "txt"]),
        ("all", ["json", "txt", "hocr", "alto", "pagexml", "pdf"]),
        (" all ", ["json", "txt", "hocr", "alto", "pagexml", "pdf"]),
    ],
)
def test_parse_formats_reads_a_list(value: str, expected: list[str]) -> None:
    assert parse_formats(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "docx",
            "unknown format 'docx'; valid formats: json, txt, hocr, alto, pagexml, pdf or 'all'",
        ),
        ("txt,docx", "unknown format 'docx'"),
        ("TXT", "unknown format 'TXT'"),
        ("txt,alto,txt", "format 'txt' is named more than once"),
        ("txt,", "empty format name in 'txt,'"),
        (",", "empty format name"),
        ("all,txt", "'all' cannot be combined with other formats"),
        ("all,all", "'all' cannot be combined"),
    ],
)
def test_parse_formats_refuses_bad_lists(value: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_formats(value)
    assert message in str(caught.value)


# --- json and txt -----------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_json_is_the_indented_result(sample: ResultOut) -> None:
    document = export(sample, "json", SOURCE)
    assert document == sample.model_dump_json(indent=2).encode("utf-8")
    assert ResultOut.model_validate_json(document) == sample
    assert b'\n  "job_id": "job-1"' in document


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_txt_is_render_text(sample: ResultOut) -> None:
    assert export(sample, "txt", SOURCE) == render_text(sample).encode("utf-8")


def test_txt_separates_pages_with_form_feeds() -> None:
    assert export(TWO_PAGES, "txt") == b"Dear Sir,\nI write to you\n\f\nYours\n"


def test_txt_survives_a_lone_surrogate() -> None:
    broken = result(page(0, [line("a\ud800b", [0, 0, 1, 1])]))
    assert export(broken, "txt") == b"a?b\n"


# --- shared pieces ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain", "plain"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("crlf\r\nand cr\r", "crlf\nand cr\n"),
        ("bell\x07 nul\x00 esc\x1b", "bell nul esc"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("non-chars \ufffe\uffff", "non-chars "),
        ("kept \ufffd \U0001f600 \u05e9 e\u0301", "kept \ufffd \U0001f600 \u05e9 e\u0301"),
        ("<&>\"'", "<&>\"'"),
    ],
)
def test_xml_text_keeps_only_what_xml_can_hold(raw: str, clean: str) -> None:
    assert xml_text(raw) == clean


@pytest.mark.parametrize(
    ("bbox", "box"),
    [
        ([1, 2, 3, 4], (1, 2, 3, 4)),
        ([5, 5, 5, 5], (5, 5, 5, 5)),
        ([-3, -1, 10, 20], (0, 0, 10, 20)),
        ([], None),
        ([1, 2, 3], None),
        ([1, 2, 3, 4, 5], None),
        ([10, 0, 5, 8], None),
        ([0, 10, 5, 8], None),
    ],
)
def test_valid_box(bbox: list[int], box: tuple[int, int, int, int] | None) -> None:
    assert valid_box(bbox) == box


def test_union_box() -> None:
    assert union_box([(10, 20, 30, 40), None, (5, 25, 20, 50)]) == (5, 20, 30, 50)
    assert union_box([None]) is None
    assert union_box([]) is None


@pytest.mark.parametrize(
    ("text", "box", "words"),
    [
        ("ab cd", (0, 0, 50, 10), [("ab", (0, 0, 20, 10)), ("cd", (30, 0, 50, 10))]),
        ("abc", (100, 5, 130, 15), [("abc", (100, 5, 130, 15))]),
        ("a  b", (0, 0, 8, 2), [("a", (0, 0, 2, 2)), ("b", (6, 0, 8, 2))]),
        (" x ", (0, 0, 3, 1), [("x", (1, 0, 2, 1))]),
        ("ab c", (0, 0, 10, 1), [("ab", (0, 0, 5, 1)), ("c", (8, 0, 10, 1))]),
        ("", (0, 0, 10, 10), []),
        ("   ", (0, 0, 10, 10), []),
        ("ab cd", None, [("ab", None), ("cd", None)]),
    ],
)
def test_split_words_shares_the_line_box_by_character(
    text: str, box: tuple[int, int, int, int] | None, words: list[tuple[str, Any]]
) -> None:
    assert [(w.text, w.box) for w in split_words(text, box)] == words


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.93, "0.93"),
        (0.876543, "0.8765"),
        (0.99996, "1"),
        (1.0, "1"),
        (0.0, "0"),
        (1.5, "1"),
        (-0.2, "0"),
        (float("nan"), None),
    ],
)
def test_format_confidence(value: float, text: str | None) -> None:
    assert format_confidence(value) == text


# --- every XML format -------------------------------------------------------------------


def documents(sample: ResultOut, fmt: str) -> list[bytes]:
    if fmt == "pagexml":
        return pagexml_module.render_pages(sample, SOURCE, now=NOW) or [export(sample, fmt)]
    return [export(sample, fmt, SOURCE)]


@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_xml_documents_are_well_formed_with_unique_ids(sample: ResultOut, fmt: str) -> None:
    for document in documents(sample, fmt):
        root = parse(document)
        for attribute in ("id", "ID"):
            repeated = [k for k, n in Counter(ids(root, attribute)).items() if n > 1]
            assert repeated == []


def texts_of(root: ET.Element, fmt: str) -> list[str]:
    """The line (or word) texts a document holds, in document order."""
    if fmt == "hocr":
        return [
            "".join(span.itertext())
            for span in root.iter(f"{XHTML}span")
            if span.get("class") == "ocr_line"
        ]
    if fmt == "alto":
        return [
            " ".join(s.attrib["CONTENT"] for s in text_line.iter(f"{ALTO}String"))
            for text_line in root.iter(f"{ALTO}TextLine")
        ]
    return [
        text_line.findtext(f"{PAGE}TextEquiv/{PAGE}Unicode") or ""
        for text_line in root.iter(f"{PAGE}TextLine")
    ]


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_odd_text_survives_and_the_control_character_is_removed(fmt: str) -> None:
    (document,) = documents(ODD_TEXT, fmt)
    assert b"\x07" not in document
    assert texts_of(parse(document), fmt) == [ODD_CLEAN, ""]
    # Markup characters in text are escaped, never written raw.
    assert b"a<b" not in document
    assert b"& c" not in document


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_markup_in_the_source_name_is_escaped(fmt: str) -> None:
    name = 'scans/<a&b> "c" \x01.png'
    document = export(TWO_PAGES, fmt, name)
    root = parse(document)
    if fmt == "hocr":
        title = find(root, f".//{XHTML}div").attrib["title"]
        assert title.startswith('image "scans/<a&b> \\"c\\" .png"; bbox')
    elif fmt == "alto":
        assert root.findtext(f".//{ALTO}fileName") == 'scans/<a&b> "c" .png'
    else:
        assert find(root, f"{PAGE}Page").attrib["imageFilename"] == 'scans/<a&b> "c" .png'


# --- hOCR -------------------------------------------------------------------------------


def ocr(root: ET.Element, kind: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == kind]


def test_hocr_head_names_the_system_and_its_capabilities() -> None:
    root = parse(export(TWO_PAGES, "hocr", SOURCE))
    assert root.tag == f"{XHTML}html"
    assert children(root) == ["head", "body"]
    metas = {m.get("name"): m.get("content") for m in root.iter(f"{XHTML}meta")}
    assert metas["ocr-system"] == "quire"
    assert metas["ocr-model"] == "ppocr"
    assert set((metas["ocr-capabilities"] or "").split()) >= {"ocr_page", "ocr_line", "ocrx_word"}
    assert root.findtext(f"{XHTML}head/{XHTML}title") == SOURCE


def test_hocr_has_one_page_div_per_page() -> None:
    root = parse(export(PARTIAL, "hocr", SOURCE))
    pages = ocr(root, "ocr_page")
    assert [(p.tag, p.get("id"), p.get("title")) for p in pages] == [
        (f"{XHTML}div", "page_1", 'image "box1/p3.pdf"; bbox 0 0 1000 1400; ppageno 0'),
        (f"{XHTML}div", "page_2", 'image "box1/p3.pdf"; bbox 0 0 1000 1400; ppageno 1'),
        (f"{XHTML}div", "page_3", 'image "box1/p3.pdf"; ppageno 2'),
    ]
    assert [len(ocr(p, "ocr_line")) for p in pages] == [1, 0, 0]


def test_hocr_lines_carry_box_and_confidence_in_reading_order() -> None:
    root = parse(export(TWO_PAGES, "hocr"))
    lines = ocr(root, "ocr_line")
    assert [(s.tag, s.get("id"), s.get("title")) for s in lines] == [
        (f"{XHTML}span", "line_1_1", "bbox 100 120 400 160; x_wconf 93"),
        (f"{XHTML}span", "line_1_2", "bbox 100 180 640 220; x_wconf 50"),
        (f"{XHTML}span", "line_2_1", "bbox 80 90 300 130; x_wconf 100"),
    ]
    assert ["".join(s.itertext()) for s in lines] == ["Dear Sir,", "I write to you", "Yours"]
    assert "image" not in ocr(root, "ocr_page")[0].get("title", "")


def test_hocr_words_split_the_line_box() -> None:
    root = parse(export(TWO_PAGES, "hocr"))
    words = ocr(ocr(root, "ocr_line")[0], "ocrx_word")
    assert [(w.get("id"), w.text, w.get("title")) for w in words] == [
        ("word_1_1_1", "Dear", "bbox 100 120 233 160; x_wconf 93"),
        ("word_1_1_2", "Sir,", "bbox 267 120 400 160; x_wconf 93"),
    ]
    assert [w.tail for w in words] == [" ", None]


def test_hocr_leaves_out_boxes_that_are_not_boxes() -> None:
    root = parse(export(BAD_BOX, "hocr"))
    titles = [e.get("title") for e in ocr(root, "ocr_line") + ocr(root, "ocrx_word")]
    assert titles == ["x_wconf 90"] * 6
    assert ocr(root, "ocr_carea")[0].get("title") is None


def test_hocr_never_writes_self_closing_elements_an_html_parser_would_misread() -> None:
    document = export(PARTIAL, "hocr", SOURCE)
    assert b"/>" not in document


# --- ALTO -------------------------------------------------------------------------------


def alto_root(sample: ResultOut, source: str = SOURCE) -> ET.Element:
    return parse(export(sample, "alto", source))


def test_alto_description_comes_first_in_schema_order() -> None:
    root = alto_root(TWO_PAGES)
    assert root.tag == f"{ALTO}alto"
    assert root.get("SCHEMAVERSION") == "4.2"
    assert children(root) == ["Description", "Layout"]
    description = find(root, f"{ALTO}Description")
    assert children(description) == ["MeasurementUnit", "sourceImageInformation", "OCRProcessing"]
    assert description.findtext(f"{ALTO}MeasurementUnit") == "pixel"
    assert description.findtext(f"{ALTO}sourceImageInformation/{ALTO}fileName") == SOURCE
    step = find(description, f"{ALTO}OCRProcessing/{ALTO}ocrProcessingStep")
    assert children(step) == ["processingCategory", "processingStepSettings", "processingSoftware"]
    assert step.findtext(f"{ALTO}processingStepSettings") == "model: ppocr"
    assert step.findtext(f"{ALTO}processingSoftware/{ALTO}softwareName") == "quire"


def test_alto_without_source_name_or_model_leaves_them_out() -> None:
    root = alto_root(result(page(0, []), model=None), source="")
    description = find(root, f"{ALTO}Description")
    assert children(description) == ["MeasurementUnit", "OCRProcessing"]
    assert root.find(f".//{ALTO}processingStepSettings") is None


def test_alto_has_one_page_per_result_page_and_0_for_unknown_sizes() -> None:
    pages = alto_root(PARTIAL).findall(f"{ALTO}Layout/{ALTO}Page")
    assert [p.attrib for p in pages] == [
        {"ID": "page_1", "PHYSICAL_IMG_NR": "1", "WIDTH": "1000", "HEIGHT": "1400"},
        {"ID": "page_2", "PHYSICAL_IMG_NR": "2", "WIDTH": "1000", "HEIGHT": "1400"},
        {"ID": "page_3", "PHYSICAL_IMG_NR": "3", "WIDTH": "0", "HEIGHT": "0"},
    ]
    assert [find(p, f"{ALTO}PrintSpace").attrib["WIDTH"] for p in pages] == ["1000", "1000", "0"]
    assert [len(p.findall(f".//{ALTO}TextLine")) for p in pages] == [1, 0, 0]


def test_alto_with_no_page_yet_still_has_the_page_layout_requires() -> None:
    pages = alto_root(NOTHING_YET).findall(f"{ALTO}Layout/{ALTO}Page")
    assert [p.attrib["WIDTH"] for p in pages] == ["0"]
    assert pages[0].find(f".//{ALTO}TextBlock") is None


def test_alto_lines_match_the_input_boxes() -> None:
    root = alto_root(TWO_PAGES)
    block = find(root, f".//{ALTO}TextBlock")
    assert block.attrib == {
        "ID": "block_1_1",
        "HPOS": "100",
        "VPOS": "120",
        "WIDTH": "540",
        "HEIGHT": "100",
    }
    geometry = [
        {k: t.attrib[k] for k in ("ID", "HPOS", "VPOS", "WIDTH", "HEIGHT")}
        for t in root.iter(f"{ALTO}TextLine")
    ]
    assert geometry == [
        {"ID": "line_1_1", "HPOS": "100", "VPOS": "120", "WIDTH": "300", "HEIGHT": "40"},
        {"ID": "line_1_2", "HPOS": "100", "VPOS": "180", "WIDTH": "540", "HEIGHT": "40"},
        {"ID": "line_2_1", "HPOS": "80", "VPOS": "90", "WIDTH": "220", "HEIGHT": "40"},
    ]


def test_alto_strings_are_words_with_spaces_between() -> None:
    text_line = find(alto_root(TWO_PAGES), f".//{ALTO}TextLine")
    assert children(text_line) == ["String", "SP", "String"]
    first, space, second = text_line
    assert first.attrib == {
        "ID": "string_1_1_1",
        "HPOS": "100",
        "VPOS": "120",
        "WIDTH": "133",
        "HEIGHT": "40",
        "CONTENT": "Dear",
        "WC": "0.93",
    }
    assert space.attrib == {"HPOS": "233", "VPOS": "120", "WIDTH": "34", "HEIGHT": "40"}
    assert (second.attrib["CONTENT"], second.attrib["HPOS"], second.attrib["WIDTH"]) == (
        "Sir,",
        "267",
        "133",
    )


def test_alto_blank_line_keeps_one_empty_string() -> None:
    lines = list(alto_root(ODD_TEXT).iter(f"{ALTO}TextLine"))
    assert [children(t) for t in lines][1] == ["String"]
    assert lines[1][0].attrib["CONTENT"] == ""
    assert {s.attrib["WC"] for s in lines[0].iter(f"{ALTO}String")} == {"0.8765"}


def test_alto_leaves_out_geometry_that_is_not_a_box() -> None:
    root = alto_root(BAD_BOX)
    positioned = [e.tag for e in root.iter() if "HPOS" in e.attrib]
    assert positioned == [f"{ALTO}PrintSpace"]
    contents = [s.attrib["CONTENT"] for s in root.iter(f"{ALTO}String")]
    assert contents == ["no", "box", "upside", "down"]


# --- PAGE XML ---------------------------------------------------------------------------


def page_roots(sample: ResultOut) -> list[ET.Element]:
    return [parse(d) for d in pagexml_module.render_pages(sample, SOURCE, now=NOW)]


def test_page_xml_gives_one_document_per_page() -> None:
    roots = page_roots(PARTIAL)
    assert [r.tag for r in roots] == [f"{PAGE}PcGts"] * 3
    assert [children(r) for r in roots] == [["Metadata", "Page"]] * 3
    assert [find(r, f"{PAGE}Page").attrib for r in roots] == [
        {"imageFilename": SOURCE, "imageWidth": "1000", "imageHeight": "1400"},
        {"imageFilename": SOURCE, "imageWidth": "1000", "imageHeight": "1400"},
        {"imageFilename": SOURCE, "imageWidth": "0", "imageHeight": "0"},
    ]
    assert [len(r.findall(f".//{PAGE}TextRegion")) for r in roots] == [1, 0, 0]


def test_page_xml_render_is_the_first_page() -> None:
    first = pagexml_module.render_pages(TWO_PAGES, SOURCE, now=NOW)[0]
    assert pagexml_module.render(TWO_PAGES, SOURCE, now=NOW) == first
    assert export(TWO_PAGES, "pagexml", SOURCE).count(b"<PcGts") == 1


def test_page_xml_of_a_result_without_pages() -> None:
    assert pagexml_module.render_pages(NOTHING_YET, SOURCE, now=NOW) == []
    root = parse(pagexml_module.render(NOTHING_YET, SOURCE, now=NOW))
    assert find(root, f"{PAGE}Page").attrib["imageWidth"] == "0"
    assert root.find(f".//{PAGE}TextRegion") is None


def test_page_xml_metadata() -> None:
    metadata = find(page_roots(TWO_PAGES)[1], f"{PAGE}Metadata")
    assert children(metadata) == ["Creator", "Created", "LastChange", "Comments"]
    assert metadata.findtext(f"{PAGE}Creator") == "quire"
    assert metadata.findtext(f"{PAGE}Created") == "2024-05-06T07:08:09+00:00"
    assert metadata.findtext(f"{PAGE}LastChange") == "2024-05-06T07:08:09+00:00"
    assert metadata.findtext(f"{PAGE}Comments") == "job job-1; page 2 of 2; model ppocr"


def test_page_xml_created_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    root = parse(export(TWO_PAGES, "pagexml"))
    created = datetime.fromisoformat(root.findtext(f"{PAGE}Metadata/{PAGE}Created") or "")
    assert created.utcoffset() is not None
    assert before <= created <= datetime.now(UTC)


def test_page_xml_region_and_lines_match_the_input() -> None:
    region = find(page_roots(TWO_PAGES)[0], f"{PAGE}Page/{PAGE}TextRegion")
    assert region.attrib == {"id": "region_1_1"}
    assert children(region) == ["Coords", "TextLine", "TextLine", "TextEquiv"]
    assert region[0].attrib == {"points": "100,120 640,120 640,220 100,220"}
    assert region.findtext(f"{PAGE}TextEquiv/{PAGE}Unicode") == "Dear Sir,\nI write to you"
    lines = region.findall(f"{PAGE}TextLine")
    assert [children(t) for t in lines] == [["Coords", "TextEquiv"]] * 2
    assert [
        (
            t.attrib["id"],
            t[0].attrib["points"],
            t[1].attrib["conf"],
            t.findtext(f"{PAGE}TextEquiv/{PAGE}Unicode"),
        )
        for t in lines
    ] == [
        ("line_1_1", "100,120 400,120 400,160 100,160", "0.93", "Dear Sir,"),
        ("line_1_2", "100,180 640,180 640,220 100,220", "0.5", "I write to you"),
    ]


def test_page_xml_lines_without_a_box_get_empty_coords() -> None:
    (root,) = page_roots(BAD_BOX)
    points = [c.attrib["points"] for c in root.iter(f"{PAGE}Coords")]
    assert points == ["0,0 0,0 0,0 0,0"] * 3


def test_page_xml_is_deterministic_for_a_given_time() -> None:
    again = pagexml_module.render_pages(ODD_TEXT, SOURCE, now=NOW)
    assert pagexml_module.render_pages(ODD_TEXT, SOURCE, now=NOW) == again


# --- schema validation (offline) --------------------------------------------------------

INSTALL_HINT = "pip install --no-deps htrflow==0.2.6 ocrd-validators==2.67.1 and xmlschema"


def package_file(package: str, relative: str) -> Path | None:
    """A file shipped inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


@cache
def load_schema(name: str) -> Any:
    """The ALTO 4.4 or PAGE 2019 schema, read from installed packages, never the network."""
    try:
        import xmlschema
    except ImportError:
        service_missing(f"xmlschema ({INSTALL_HINT})")
    xlink = package_file("ocrd_validators", "xlink.xsd")  # the LoC XLink schema ALTO imports
    if name == "alto":
        alto = package_file("htrflow", "serialization/schemas/alto-4-4.xsd")
        if alto is None or xlink is None:
            service_missing(f"the ALTO 4 schema ({INSTALL_HINT})")
        locations = [("http://www.w3.org/1999/xlink", str(xlink))]
        return xmlschema.XMLSchema(str(alto), locations=locations, allow="local")
    page_xsd = package_file("ocrd_validators", "page.xsd")
    if page_xsd is None:
        service_missing(f"the PAGE 2019 schema ({INSTALL_HINT})")
    return xmlschema.XMLSchema(str(page_xsd), allow="local")


@pytest.mark.parametrize("fmt", ["alto", "pagexml"])
@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_documents_are_valid_against_the_schema(sample: ResultOut, fmt: str) -> None:
    schema = load_schema(fmt)
    for document in documents(sample, fmt):
        errors = [str(e.reason) for e in schema.iter_errors(document.decode("utf-8"))]
        assert errors == []


def test_the_schema_check_catches_an_invalid_document() -> None:
    schema = load_schema("alto")
    broken = export(TWO_PAGES, "alto").replace(b"<Description>", b"<Description><Bogus/>")
    assert not schema.is_valid(broken.decode("utf-8"))
