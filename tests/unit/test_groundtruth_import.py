"""Ground-truth import: safe XML, PAGE XML and ALTO readers, image lookup, problems, stats.

Every fixture is built here: XML as strings, images drawn with PIL into ``tmp_path``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from shared.exporters import alto as alto_exporter
from shared.exporters import pagexml as pagexml_exporter
from shared.groundtruth.geometry import (
    baseline_box,
    bounds,
    clip_box,
    clip_points,
    parse_dimension,
    parse_points,
)
from shared.groundtruth.images import ImageFinder
from shared.groundtruth.load import parse_ground_truth, scan_ground_truth
from shared.groundtruth.model import GroundTruthError, GtPage, GtScan
from shared.groundtruth.safe_xml import parse_xml
from shared.groundtruth.stats import dataset_stats
from shared.schemas import LineOut, PageOut, ResultOut

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/{}"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v{}#"
WIDTH, HEIGHT = 200, 100

# --- building fixtures ---------------------------------------------------------------------


def write_image(path: Path, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def page_xml(
    body: str,
    version: str = "2019-07-15",
    image: str = "p.png",
    size: tuple[int, int] | None = (WIDTH, HEIGHT),
) -> str:
    dims = f' imageWidth="{size[0]}" imageHeight="{size[1]}"' if size else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<PcGts xmlns="{PAGE_NS.format(version)}">'
        f'<Page imageFilename="{image}"{dims}>{body}</Page></PcGts>'
    )


def text_equiv(text: str, index: str | None = None) -> str:
    attrs = f' index="{index}"' if index is not None else ""
    return f"<TextEquiv{attrs}><Unicode>{text}</Unicode></TextEquiv>"


def page_line(
    line_id: str, points: str, text: str | None = None, extra: str = "", attrs: str = ""
) -> str:
    equiv = text_equiv(text) if text is not None else ""
    coords = f'<Coords points="{points}"/>' if points else ""
    return f'<TextLine id="{line_id}"{attrs}>{coords}{extra}{equiv}</TextLine>'


def region(region_id: str, *lines: str) -> str:
    return (
        f'<TextRegion id="{region_id}"><Coords points="0,0 1,0 1,1"/>{"".join(lines)}</TextRegion>'
    )


def alto_xml(
    lines: str,
    version: str | None = "4",
    image: str = "p.png",
    unit: str = "pixel",
    tags: str = "",
    pages: int = 1,
) -> str:
    xmlns = f' xmlns="{ALTO_NS.format(version)}"' if version else ""
    page = (
        f'<Page ID="p1" WIDTH="{WIDTH}" HEIGHT="{HEIGHT}"><PrintSpace>{lines}</PrintSpace></Page>'
    )
    return (
        f"<alto{xmlns}><Description><MeasurementUnit>{unit}</MeasurementUnit>"
        f"<sourceImageInformation><fileName>{image}</fileName></sourceImageInformation>"
        f"</Description><Tags>{tags}</Tags><Layout>{page * pages}</Layout></alto>"
    )


def alto_block(block_id: str, *lines: str) -> str:
    return f'<TextBlock ID="{block_id}">{"".join(lines)}</TextBlock>'


def alto_line(
    line_id: str, box: tuple[int, int, int, int] | None, content: str, attrs: str = ""
) -> str:
    geometry = ""
    if box is not None:
        geometry = f' HPOS="{box[0]}" VPOS="{box[1]}" WIDTH="{box[2]}" HEIGHT="{box[3]}"'
    return f'<TextLine ID="{line_id}"{geometry}{attrs}>{content}</TextLine>'


def strings(*words: str) -> str:
    return '<SP WIDTH="5"/>'.join(f'<String CONTENT="{word}"/>' for word in words)


def one_page(tmp_path: Path, xml: str, name: str = "p.xml") -> GtPage:
    write_image(tmp_path / "p.png")
    return parse_ground_truth(write(tmp_path / name, xml))


def error_code(tmp_path: Path, xml: str | bytes) -> GroundTruthError:
    write_image(tmp_path / "p.png")
    with pytest.raises(GroundTruthError) as caught:
        parse_ground_truth(write(tmp_path / "bad.xml", xml))
    return caught.value


def codes(scan: GtScan) -> Counter[str]:
    return Counter(problem.code for problem in scan.problems)


# --- safe XML ------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    )
    + "]><lolz>"
    + "&lol9;" * 100
    + "</lolz>"
)
UNSAFE = {
    "billion_laughs": BILLION_LAUGHS,
    "external_entity": '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "parameter_entity": '<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><r/>',
    "external_dtd": '<!DOCTYPE r SYSTEM "http://192.0.2.1/evil.dtd"><r/>',
    "plain_doctype": "<!DOCTYPE PcGts><PcGts/>",
}


@pytest.mark.parametrize("document", UNSAFE.values(), ids=UNSAFE.keys())
def test_documents_with_a_dtd_are_refused_before_anything_is_expanded(document: str) -> None:
    started = time.perf_counter()
    with pytest.raises(GroundTruthError) as caught:
        parse_xml(document.encode())
    # expat's own amplification guard would answer malformed_xml, after expanding a while
    assert caught.value.code == "unsafe_xml"
    assert "DOCTYPE" in caught.value.message
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("document", "where"),
    [
        pytest.param(b"<a><b></a>", "line 1, column 9", id="mismatched_tag"),
        pytest.param(b"<a>\n\n  <b x='1' x='2'/></a>", "line 3", id="duplicate_attribute"),
        pytest.param(b"", "line 1", id="empty"),
        pytest.param(b"<a>&undefined;</a>", "line 1", id="undefined_entity"),
        pytest.param(b"<a/><b/>", "line 1", id="two_roots"),
    ],
)
def test_malformed_xml_says_where(document: bytes, where: str) -> None:
    with pytest.raises(GroundTruthError) as caught:
        parse_xml(document)
    assert caught.value.code == "malformed_xml"
    assert where in caught.value.message


def test_safe_xml_gives_elementtree_names_and_reads_utf16() -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-16"?><r xmlns="urn:a" xmlns:b="urn:b" b:k="v">é</r>'
    )
    root = parse_xml(document.encode("utf-16"))
    assert root.tag == "{urn:a}r"
    assert root.attrib == {"{urn:b}k": "v"}
    assert root.text == "é"


# --- geometry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,2 3,4", ((1.0, 2.0), (3.0, 4.0))),
        ("1 2 3 4", ((1.0, 2.0), (3.0, 4.0))),
        (" 1.5,2  3,4.25 ", ((1.5, 2.0), (3.0, 4.25))),
        ("", ()),
    ],
)
def test_parse_points(value: str, expected: tuple[tuple[float, float], ...]) -> None:
    assert parse_points(value) == expected


@pytest.mark.parametrize("value", ["1,2 3", "1,2 x,4", "nan,1 2,3", "1,inf 2,3"])
def test_parse_points_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_points(value)


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        (bounds, (((1.2, 2.7), (10.5, 8.01)),), (1, 2, 11, 9)),
        (clip_points, (((-5.0, 3.0), (250.0, 120.0)), WIDTH, HEIGHT), ((0.0, 3.0), (200.0, 100.0))),
        (clip_box, ((-5, 3, 250, 120), WIDTH, HEIGHT), (0, 3, 200, 100)),
        (clip_box, ((210, 3, 250, 120), WIDTH, HEIGHT), (200, 3, 200, 100)),
        (baseline_box, (((10.0, 50.0), (90.0, 50.0)), 20.0), (10, 35, 90, 55)),
        (parse_dimension, ("2550",), 2550),
        (parse_dimension, ("68.0",), 68),
        (parse_dimension, ("-3",), 0),
        (parse_dimension, ("abc",), 0),
        (parse_dimension, (None,), 0),
    ],
)
def test_geometry(function: object, args: tuple[object, ...], expected: object) -> None:
    assert function(*args) == expected  # type: ignore[operator]


# --- PAGE XML ------------------------------------------------------------------------------


def test_page_2010_reads_point_children(tmp_path: Path) -> None:
    points = "".join(
        f'<Point x="{x}" y="{y}"/>' for x, y in [(10, 10), (90, 10), (90, 30), (10, 30)]
    )
    body = region(
        "r1",
        f'<TextLine id="l1"><Coords>{points}</Coords>'
        "<TextEquiv><Unicode>Anno  1850</Unicode></TextEquiv></TextLine>",
    )
    page = one_page(tmp_path, page_xml(body, version="2010-03-19"))
    assert page.format == "page-2010-03-19"
    (line,) = page.lines
    assert line.text == "Anno 1850"  # normalised
    assert line.bbox == (10, 10, 90, 30)
    assert line.polygon == ((10, 10), (90, 10), (90, 30), (10, 30))
    assert line.region_id == "r1"


def test_page_2013_lines_in_document_order_through_nested_regions(tmp_path: Path) -> None:
    inner = region("inner", page_line("b", "10,40 90,40 90,50 10,50", "second"))
    body = region(
        "outer",
        page_line("a", "10,10 90,10 90,20 10,20", "first"),
        inner,
        page_line(
            "c",
            "10,70 90,70 90,80 10,80",
            "third",
            attrs=' custom="readingOrder {index:2;} structure {type:heading;}"',
        ),
    )
    page = one_page(tmp_path, page_xml(body, version="2013-07-15"))
    assert [(line.id, line.text, line.region_id) for line in page.lines] == [
        ("a", "first", "outer"),
        ("b", "second", "inner"),
        ("c", "third", "outer"),
    ]
    assert [line.line_type for line in page.lines] == [None, None, "heading"]
    assert page.image == tmp_path / "p.png"
    assert (page.width, page.height) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("equivs", "expected"),
    [
        pytest.param([("1", "alt"), ("0", "main")], "main", id="index_0_wins"),
        pytest.param([(None, "main"), ("1", "alt")], "main", id="no_index_counts_as_0"),
        pytest.param([(None, "first"), (None, "second")], "first", id="first_on_a_tie"),
        pytest.param([("2", "b"), ("1", "a")], "a", id="lowest_index"),
    ],
)
def test_page_text_equiv_selection(
    tmp_path: Path, equivs: list[tuple[str | None, str]], expected: str
) -> None:
    extra = "".join(text_equiv(text, index) for index, text in equivs)
    body = region("r", page_line("l", "10,10 90,10 90,30 10,30", extra=extra))
    (line,) = one_page(tmp_path, page_xml(body)).lines
    assert line.text == expected


def test_page_words_are_joined_when_the_line_has_no_text(tmp_path: Path) -> None:
    words = "".join(
        f'<Word id="w{i}"><Coords points="0,0 1,0 1,1"/>{text_equiv(word)}</Word>'
        for i, word in enumerate(["Cher", "ami,", "salut"])
    )
    body = region(
        "r",
        page_line("no_equiv", "10,10 90,10 90,30 10,30", extra=words),
        page_line("blank_equiv", "10,40 90,40 90,60 10,60", text=" ", extra=words),
        page_line("own_text", "10,70 90,70 90,90 10,90", text="line wins", extra=words),
    )
    page = one_page(tmp_path, page_xml(body))
    assert [line.text for line in page.lines] == ["Cher ami, salut", "Cher ami, salut", "line wins"]


def test_page_baseline_is_read_and_a_baseline_only_line_gets_the_typical_height(
    tmp_path: Path,
) -> None:
    body = region(
        "r",
        page_line(
            "a", "10,10 90,10 90,30 10,30", "with polygon", extra='<Baseline points="10,27 90,27"/>'
        ),
        page_line("b", "", "baseline only", extra='<Baseline points="10,60 90,60"/>'),
    )
    a, b = one_page(tmp_path, page_xml(body)).lines
    assert a.baseline == ((10, 27), (90, 27))
    assert b.polygon is None
    assert b.bbox == (10, 45, 90, 65)  # 20 px tall like line a, three quarters above


# --- ALTO ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2", "3", "4", None])
def test_alto_boxes_words_and_hyphen(tmp_path: Path, version: str | None) -> None:
    content = strings("Le", "quatorze") + '<SP/><String CONTENT="juil"/><HYP CONTENT="-"/>'
    lines = alto_block("b1", alto_line("l1", (10, 20, 150, 30), content, ' BASELINE="45"'))
    page = one_page(tmp_path, alto_xml(lines, version=version))
    assert page.format == (f"alto-{version}" if version else "alto")
    (line,) = page.lines
    assert line.text == "Le quatorze juil-"
    assert line.bbox == (10, 20, 160, 50)
    assert line.polygon is None
    assert line.baseline == ((10, 45), (160, 45))  # ALTO 2/3: one y across the box
    assert line.region_id == "b1"


@pytest.mark.parametrize(
    ("points", "baseline"),
    [("20 10 120 10 120 40 20 40", "20 35 120 33"), ("20,10 120,10 120,40 20,40", "20,35 120,33")],
    ids=["spaces", "commas"],
)
def test_alto4_polygon_and_baseline_points(tmp_path: Path, points: str, baseline: str) -> None:
    shape = f'<Shape><Polygon POINTS="{points}"/></Shape>{strings("mot")}'
    lines = alto_line("l1", (0, 0, 150, 60), shape, f' BASELINE="{baseline}"')
    (line,) = one_page(tmp_path, alto_xml(lines)).lines
    assert line.polygon == ((20, 10), (120, 10), (120, 40), (20, 40))
    assert line.bbox == (20, 10, 120, 40)  # the polygon's bounds, not the looser box
    assert line.baseline == ((20, 35), (120, 33))


def test_alto_line_type_from_tagrefs(tmp_path: Path) -> None:
    tags = '<OtherTag ID="LT1" LABEL="HeadingLine"/><OtherTag ID="BT1" LABEL="MainZone"/>'
    lines = alto_line("l1", (10, 10, 50, 20), strings("Titre"), ' TAGREFS="missing LT1"')
    (line,) = one_page(tmp_path, alto_xml(lines, tags=tags)).lines
    assert line.line_type == "HeadingLine"


@pytest.mark.parametrize("unit", ["mm10", "inch1200"])
def test_alto_other_units_are_refused(tmp_path: Path, unit: str) -> None:
    xml = alto_xml(alto_line("l1", (10, 10, 50, 20), strings("x")), unit=unit)
    assert error_code(tmp_path, xml).code == "unsupported_unit"


# --- problems ------------------------------------------------------------------------------


def test_bad_lines_are_left_out_and_the_page_still_imports(tmp_path: Path) -> None:
    body = region(
        "r",
        page_line("good", "10,10 90,10 90,30 10,30", "kept"),
        page_line("empty", "10,40 90,40 90,60 10,60", " \u200b "),
        page_line("outside", "300,10 390,10 390,30 300,30", "off the page"),
        page_line("flat", "10,70 90,70", "two points, no baseline"),
        page_line("good", "10,70 90,70 90,90 10,90", "same id"),
        page_line("garbage", "10,10 x,3", "bad points"),
        page_line("clipped", "-20,60 250,60 250,120 -20,120", "clipped"),
    )
    write_image(tmp_path / "p.png")
    scan = scan_ground_truth([write(tmp_path / "p.xml", page_xml(body))])
    (page,) = scan.pages
    assert [line.id for line in page.lines] == ["good", "clipped"]
    assert page.lines[1].bbox == (0, 60, WIDTH, HEIGHT)
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in page.lines[1].polygon or ())
    assert {(p.line_id, p.code) for p in scan.problems} == {
        ("empty", "empty_line"),
        ("outside", "zero_area_line"),
        ("flat", "zero_area_line"),
        ("good", "duplicate_line_id"),
        ("garbage", "invalid_coords"),
    }


def test_every_bad_file_gets_its_code_while_the_others_import(tmp_path: Path) -> None:
    good = region("r", page_line("l", "10,10 90,10 90,30 10,30", "bon"))
    write_image(tmp_path / "p.png")
    write_image(tmp_path / "small.png", (50, 50))
    write(tmp_path / "broken.png", b"not an image at all")
    files = {
        "a_good.xml": page_xml(good),
        "b_malformed.xml": page_xml(good)[:-20],
        "c_unsafe.xml": BILLION_LAUGHS,
        "d_unknown.xml": "<html><body/></html>",
        "e_missing.xml": page_xml(good, image="nowhere.jpg"),
        "f_mismatch.xml": page_xml(good, image="small.png"),
        "g_unreadable.xml": page_xml(good, image="broken.png"),
        "h_no_lines.xml": page_xml(region("r", page_line("l", "10,10 90,10 90,30 10,30", ""))),
        "i_no_textline.xml": page_xml(""),
        "j_two_pages.xml": alto_xml(alto_line("l", (1, 1, 9, 9), strings("x")), pages=2),
        "k_page_2099.xml": page_xml(good, version="2099-01-01"),
        "z_good.xml": alto_xml(alto_line("l", (10, 10, 50, 20), strings("aussi")), image="z.png"),
    }
    write_image(tmp_path / "z.png")
    for name, text in files.items():
        write(tmp_path / name, text)
    scan = scan_ground_truth([tmp_path])
    assert [page.source.name for page in scan.pages] == ["a_good.xml", "z_good.xml"]
    assert {p.path.name: p.code for p in scan.problems} == {
        "b_malformed.xml": "malformed_xml",
        "c_unsafe.xml": "unsafe_xml",
        "d_unknown.xml": "unknown_format",
        "e_missing.xml": "missing_image",
        "f_mismatch.xml": "image_size_mismatch",
        "g_unreadable.xml": "unreadable_image",
        "h_no_lines.xml": "no_lines",
        "i_no_textline.xml": "no_lines",
        "j_two_pages.xml": "multiple_pages",
        "k_page_2099.xml": "unknown_format",
    }
    assert all(p.line_id is None for p in scan.problems)


def test_a_size_the_file_does_not_declare_is_the_images(tmp_path: Path) -> None:
    body = region("r", page_line("l", "10,10 290,10 290,30 10,30", "x"))
    write_image(tmp_path / "p.png", (300, 150))
    page = parse_ground_truth(write(tmp_path / "p.xml", page_xml(body, size=None)))
    assert (page.width, page.height) == (300, 150)
    assert page.lines[0].bbox == (10, 10, 290, 30)


def test_a_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    scan = scan_ground_truth([tmp_path / "absent.xml"])
    assert codes(scan) == {"unreadable_xml": 1}


# --- finding images ------------------------------------------------------------------------


def test_scan_with_alto_and_jpg_side_by_side(tmp_path: Path) -> None:
    for name in ["b", "a", "c"]:
        write_image(tmp_path / "set" / "jpg" / f"{name}.jpg")
        lines = alto_line("l", (10, 10, 50, 20), strings(f"page {name}"))
        write(tmp_path / "set" / "alto" / f"{name}.xml", alto_xml(lines, image=f"{name}.jpg"))
    write(tmp_path / "set" / ".git" / "config.xml", "<not-ground-truth/>")
    scan = scan_ground_truth([tmp_path / "set"])
    assert scan.problems == []
    assert [page.source.name for page in scan.pages] == ["a.xml", "b.xml", "c.xml"]
    assert [page.image for page in scan.pages] == [
        tmp_path / "set" / "jpg" / f"{name}.jpg" for name in "abc"
    ]
    assert [page.lines[0].text for page in scan.pages] == ["page a", "page b", "page c"]


def test_a_page_given_as_both_alto_and_page_xml_imports_once(tmp_path: Path) -> None:
    # HTR-United sets often ship data/<doc>/alto/ and data/<doc>/page/ for the same images.
    for name in ["a", "b"]:
        write_image(tmp_path / "set" / "images" / f"{name}.jpg")
        lines = alto_line("l", (10, 10, 50, 20), strings(f"page {name}"))
        write(tmp_path / "set" / "alto" / f"{name}.xml", alto_xml(lines, image=f"{name}.jpg"))
        body = region("r", page_line("l", "10,10 60,10 60,30 10,30", f"page {name}"))
        write(tmp_path / "set" / "page" / f"{name}.xml", page_xml(body, image=f"{name}.jpg"))
    write_image(tmp_path / "set" / "images" / "c.jpg")
    body = region("r", page_line("l", "10,10 60,10 60,30 10,30", "page c"))
    write(tmp_path / "set" / "page" / "c.xml", page_xml(body, image="c.jpg"))

    scan = scan_ground_truth([tmp_path / "set"])

    assert [p.source.relative_to(tmp_path / "set").as_posix() for p in scan.pages] == [
        "alto/a.xml",
        "alto/b.xml",
        "page/c.xml",
    ]
    duplicates = [p for p in scan.problems if p.code == "duplicate_image"]
    assert [p.path.name for p in duplicates] == ["a.xml", "b.xml"]
    assert all("alto" in p.message for p in duplicates)
    assert dataset_stats(scan)["lines"] == 3


@pytest.mark.parametrize(
    ("named", "stored", "xml_at"),
    [
        pytest.param("p.tif", "images/p.png", "page/p.xml", id="stem_with_another_suffix"),
        pytest.param("p.jpg", "p.JPG", "page/p.xml", id="folder_above_upper_case_suffix"),
        pytest.param("C:\\scans\\p.png", "p.png", "p.xml", id="windows_path"),
        pytest.param("https://iiif.example/p.png?x=1", "p.png", "p.xml", id="url"),
        pytest.param("img/p.png", "img/p.png", "p.xml", id="relative_path"),
        pytest.param("", "page/p.jpeg", "page/p.xml", id="no_name_the_xml_stem"),
    ],
)
def test_image_lookup(tmp_path: Path, named: str, stored: str, xml_at: str) -> None:
    image = write_image(tmp_path / stored)
    xml = write(tmp_path / xml_at, page_xml("", image=named))
    assert ImageFinder().find(xml, named) == image


def test_image_dirs_are_searched_last(tmp_path: Path) -> None:
    elsewhere = write_image(tmp_path / "elsewhere" / "p.png")
    xml = write(tmp_path / "set" / "xml" / "p.xml", page_xml(""))
    assert ImageFinder().find(xml, "p.png") is None
    assert ImageFinder([tmp_path / "elsewhere"]).find(xml, "p.png") == elsewhere
    beside = write_image(tmp_path / "set" / "xml" / "p.png")
    assert ImageFinder([tmp_path / "elsewhere"]).find(xml, "p.png") == beside


# --- round trip through quire's own exporters ----------------------------------------------


def test_round_trip_through_the_page_and_alto_exporters(tmp_path: Path) -> None:
    lines = [
        LineOut(text="Le 3 mars 1851,", confidence=0.9, bbox=[12, 20, 240, 48]),
        LineOut(text="l\u2019été venu", confidence=0.8, bbox=[15, 60, 180, 90]),
        LineOut(text="fin", confidence=1.0, bbox=[200, 150, 290, 190]),
    ]
    result = ResultOut(
        job_id="j1",
        status="succeeded",
        text="",
        model="test",
        pages=[PageOut(index=0, width=300, height=200, status="succeeded", text="", lines=lines)],
    )
    write_image(tmp_path / "scan.png", (300, 200))
    write(tmp_path / "scan.page.xml", pagexml_exporter.render_pages(result, "scan.png")[0])
    write(tmp_path / "scan.alto.xml", alto_exporter.render(result, "scan.png"))
    # One image, two files: each file is scanned on its own (together, the second would be a
    # duplicate_image).
    scans = [scan_ground_truth([tmp_path / f"scan.{kind}.xml"]) for kind in ("alto", "page")]
    assert [scan.problems for scan in scans] == [[], []]
    pages = [page for scan in scans for page in scan.pages]
    assert [page.format for page in pages] == ["alto-4", "page-2019-07-15"]
    for page in pages:
        assert page.image == tmp_path / "scan.png"
        assert [(line.bbox, line.text) for line in page.lines] == [
            ((12, 20, 240, 48), "Le 3 mars 1851,"),
            ((15, 60, 180, 90), "l'été venu"),
            ((200, 150, 290, 190), "fin"),
        ]


# --- stats ---------------------------------------------------------------------------------


def test_dataset_stats(tmp_path: Path) -> None:
    body = region(
        "r",
        page_line("a", "10,10 90,10 90,30 10,30", "abc"),
        page_line("b", "10,40 90,40 90,60 10,60", "cab d"),
        page_line("c", "10,70 90,70 90,90 10,90", ""),
    )
    write_image(tmp_path / "p.png")
    write(tmp_path / "p.xml", page_xml(body))
    write(tmp_path / "q.xml", "<broken")
    stats = dataset_stats(scan_ground_truth([tmp_path]))
    assert stats == {
        "pages": 1,
        "lines": 2,
        "characters": 8,
        "alphabet": " abcd",
        "problems": {"empty_line": 1, "malformed_xml": 1},
    }
