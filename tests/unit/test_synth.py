"""Synthetic handwriting (training/synth): geometry, determinism, PAGE output, fonts, text.

No fetched fonts: an empty font cache falls back to the DejaVu faces installed on the
machine, and an empty text cache to the built-in phrases.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli import synth_cmd
from shared.textnorm import normalize_text
from training.synth import corpus as corpus_mod
from training.synth import fonts as fonts_mod
from training.synth.corpus import Corpus, load_corpus
from training.synth.fonts import (
    FontFace,
    debian_license,
    fetch_fonts,
    format_ranges,
    license_in_text,
    load_fonts,
    npm_license,
    parse_ranges,
    read_cmap,
    system_faces,
    write_manifest,
)
from training.synth.page_writer import PAGE_NS, PageLine, PageRegion, page_xml
from training.synth.pages import (
    Sheet,
    SynthOptions,
    SynthPage,
    generate,
    item_rng,
    synth_line_image,
    synth_page,
)
from training.synth.render import fit_text, render_line, sample_hand

SMALL = SynthOptions(page_height=(700, 800))
CLEAN = SynthOptions(page_height=(700, 800), ruled=0.0, rotation=0.0, degrade=False)
NS = {"p": PAGE_NS}


@pytest.fixture(scope="module")
def faces() -> list[FontFace]:
    found = system_faces()
    if not found:
        pytest.skip("no DejaVu fonts under /usr/share/fonts")
    return found


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(Path("/nonexistent-text-cache"), system=False)


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def ink_pixels(page: SynthPage) -> np.ndarray:
    """Pixels much darker than the paper: ink (clean pages have no rules, stains or noise)."""
    gray = cv2.cvtColor(page.image, cv2.COLOR_RGB2GRAY).astype(np.int16)
    return gray < np.median(gray) - 60


def outside_share(page: SynthPage) -> float:
    ink = ink_pixels(page)
    union = np.zeros(ink.shape, bool)
    for line in page.lines:
        union |= polygon_mask(ink.shape, line.polygon)
    return float((ink & ~union).sum() / max(1, ink.sum()))


# --- lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_a_line_polygon_holds_all_of_its_ink(faces: list[FontFace], seed: int) -> None:
    rng = np.random.default_rng(seed)
    hand = sample_hand(rng, faces, x_height=float(rng.uniform(12, 30)))
    text = fit_text(hand.face, "Dear Mr Hawkins, on March 3rd 1887 — café, été, Zoë & Co.")
    line = render_line(text, hand, rng)
    ink = line.mask > 0.5
    inside = polygon_mask(ink.shape, line.polygon)
    assert ink.sum() > 100
    assert (ink & ~inside).sum() <= 0.002 * ink.sum()
    # The baseline runs along the line inside its outline.
    for x, y in line.baseline[1:-1]:
        column = inside[:, min(int(x), inside.shape[1] - 1)]
        assert column[min(int(y), inside.shape[0] - 1)]


def test_the_text_recorded_is_the_text_drawn(faces: list[FontFace]) -> None:
    rng = np.random.default_rng(3)
    hand = sample_hand(rng, faces, x_height=20)
    text = fit_text(hand.face, "Yours faithfully, A. Hawkins")
    line = render_line(text, hand, rng)
    assert "".join(ch for ch, _, _ in line.glyphs) == text == line.text
    for ch, x, y in line.glyphs:  # each visible character left ink near its pen position
        if not ch.isspace():
            x0, y0 = max(0, int(x) - 2), max(0, int(y - 1.6 * hand.x_height))
            window = line.mask[y0 : int(y) + 3, x0 : int(x) + int(hand.size * 0.8)]
            assert window.max() > 0.5, ch


def test_fit_text_replaces_what_the_face_cannot_draw(faces: list[FontFace]) -> None:
    ascii_only = FontFace("ascii", faces[0].paths, (frozenset(range(0x20, 0x7F)),))
    assert fit_text(ascii_only, "café “été” £3 ✓ œuvre") == 'cafe "ete" L3 oeuvre'
    assert fit_text(faces[0], "  café\u2014été  ") == "café-été"


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_page_ink_lies_inside_line_polygons(
    faces: list[FontFace], corpus: Corpus, seed: int
) -> None:
    page = synth_page(item_rng(seed, 0, "pages"), faces, corpus, CLEAN)
    assert len(page.lines) >= 5
    assert outside_share(page) < 0.003


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lines_and_regions_do_not_overlap(faces: list[FontFace], corpus: Corpus, seed: int) -> None:
    options = SynthOptions(page_height=(700, 800), ruled=1.0, rotation=0.0, degrade=False)
    page = synth_page(item_rng(seed, 0, "pages"), faces, corpus, options)
    shape = page.image.shape[:2]
    cover = np.zeros(shape, np.int32)
    for line in page.lines:
        cover += polygon_mask(shape, line.polygon)
    assert (cover > 1).sum() <= 0.002 * (cover > 0).sum()
    boxes = [(r.polygon.min(axis=0), r.polygon.max(axis=0)) for r in page.regions]
    for i, (lo_a, hi_a) in enumerate(boxes):
        for lo_b, hi_b in boxes[i + 1 :]:
            overlap = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None)
            assert overlap.prod() == 0


@pytest.mark.parametrize("wanted_step", [0.0, 5.0, -30.0])
def test_a_line_placed_too_high_is_pushed_below_the_ink_above(
    faces: list[FontFace], wanted_step: float
) -> None:
    rng = np.random.default_rng(1)
    hand = sample_hand(rng, faces, x_height=18)
    paper = np.full((400, 900, 3), 240, np.float32)
    sheet = Sheet(paper, top=10, bottom=390, density=np.ones((400, 900), np.float32))
    region = sheet.new_region("paragraph")
    first = sheet.add(region, rng, hand, "Mighty fjords (gulp)", 20, 60, gap=2)
    assert first is not None
    sheet.add(region, rng, hand, "Quietly jumping giraffes", 20, first + wanted_step, gap=2)
    upper, lower = region.lines
    cover = polygon_mask((400, 900), upper.polygon).astype(int)
    cover += polygon_mask((400, 900), lower.polygon)
    assert (cover > 1).sum() == 0
    assert lower.baseline[0][1] > upper.baseline[0][1]
    next_region = sheet.new_region("closing")
    sheet.add(next_region, rng, hand, "Yours truly,", 400, 0, gap=0)
    assert next_region.lines[0].polygon[:, 1].min() >= lower.polygon[:, 1].max()


def test_rotating_the_page_rotates_its_geometry_alike(
    faces: list[FontFace], corpus: Corpus
) -> None:
    straight = synth_page(item_rng(5, 0, "pages"), faces, corpus, CLEAN)
    tilted_options = SynthOptions(page_height=(700, 800), ruled=0.0, rotation=3.0, degrade=False)
    tilted = synth_page(item_rng(5, 0, "pages"), faces, corpus, tilted_options)
    before = np.concatenate([ln.polygon for ln in straight.lines])
    after = np.concatenate([ln.polygon for ln in tilted.lines])
    assert before.shape == after.shape and not np.allclose(before, after)
    # One rigid rotation maps every point (least squares, Kabsch).
    a, b = before - before.mean(0), after - after.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    rotation = (u @ vt).T
    assert np.abs(a @ rotation.T - b).max() < 0.5
    angle = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    assert 0.01 < abs(angle) <= 3.0
    assert outside_share(tilted) < 0.006  # interpolation smears a little ink at the edges


def test_line_images_hold_one_line_inside_the_image(faces: list[FontFace], corpus: Corpus) -> None:
    for index in range(4):
        page = synth_line_image(item_rng(0, index, "lines"), faces, corpus, SMALL)
        (line,) = page.lines
        height, width = page.image.shape[:2]
        assert line.text and line.text == normalize_text(line.text)
        assert line.polygon.min() >= -1 and line.polygon[:, 0].max() <= width
        assert line.polygon[:, 1].max() <= height


# --- output --------------------------------------------------------------------------------


def run_generate(kind: str, out: Path, count: int, workers: int = 1, seed: int = 7) -> None:
    empty = out.parent / "empty-cache"
    empty.mkdir(exist_ok=True)
    generate(
        kind,
        out,
        count,
        seed=seed,
        workers=workers,
        font_dir=empty,
        text_dir=empty,
        options=SMALL,
        progress=False,
    )


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    run_generate("pages", tmp_path / "a", 2)
    run_generate("pages", tmp_path / "b", 2)
    run_generate("pages", tmp_path / "c", 1, seed=8)
    first = folder_bytes(tmp_path / "a")
    assert set(first) == {
        "manifest.json",
        *(f"page_00000{i}.{e}" for i in (0, 1) for e in ("jpg", "xml")),
    }
    assert first == folder_bytes(tmp_path / "b")
    assert first["page_000000.jpg"] != folder_bytes(tmp_path / "c")["page_000000.jpg"]


def test_worker_processes_do_not_change_the_output(tmp_path: Path) -> None:
    run_generate("lines", tmp_path / "one", 3, workers=1)
    run_generate("lines", tmp_path / "two", 3, workers=2)
    assert folder_bytes(tmp_path / "one") == folder_bytes(tmp_path / "two")


def test_pages_import_through_the_ground_truth_reader(
    tmp_path: Path, faces: list[FontFace], corpus: Corpus
) -> None:
    load = pytest.importorskip("shared.groundtruth.load")
    run_generate("pages", tmp_path / "pages", 1)
    run_generate("lines", tmp_path / "lines", 2)
    scan = load.scan_ground_truth([tmp_path / "pages", tmp_path / "lines"])
    assert scan.problems == [] and len(scan.pages) == 3
    expected = synth_page(item_rng(7, 0, "pages"), faces, corpus, SMALL)
    page = load.parse_ground_truth(tmp_path / "pages" / "page_000000.xml")
    assert page.format == "page-2019-07-15"
    assert (page.width, page.height) == expected.image.shape[1::-1]
    assert [ln.text for ln in page.lines] == [ln.text for ln in expected.lines]
    assert page.image.name == "page_000000.jpg"
    line_page = load.parse_ground_truth(tmp_path / "lines" / "line_000001.xml")
    assert len(line_page.lines) == 1 and line_page.lines[0].baseline


def test_page_xml_is_valid_against_the_2019_schema(tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    spec = importlib.util.find_spec("ocrd_validators")  # its XSD only: never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ocrd-validators (the PAGE 2019 XSD) is not installed")
    xsd = Path(next(iter(spec.submodule_search_locations))) / "page.xsd"
    run_generate("pages", tmp_path / "pages", 1)
    schema = xmlschema.XMLSchema(str(xsd), allow="local")
    document = (tmp_path / "pages" / "page_000000.xml").read_text(encoding="utf-8")
    assert [str(e.reason) for e in schema.iter_errors(document)] == []


def test_page_writer_clips_points_and_keeps_text() -> None:
    line = PageLine(
        "r1l1", "Dear Sir, <&>", [(-5, 2), (30.4, 2), (30.4, 20.6)], [(0, 18), (99, 18)]
    )
    xml = page_xml("a.png", 50, 40, [PageRegion("r1", [(0, 0), (49, 0), (49, 39)], [line])])
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    node = root.find(".//p:TextLine", NS)
    assert node is not None
    assert node.find("p:Coords", NS).get("points") == "0,2 30,2 30,21"  # type: ignore[union-attr]
    assert node.find("p:Baseline", NS).get("points") == "0,18 49,18"  # type: ignore[union-attr]
    assert node.findtext("p:TextEquiv/p:Unicode", namespaces=NS) == "Dear Sir, <&>"
    assert page_xml("a.png", 50, 40, []) == page_xml("a.png", 50, 40, [])


def test_the_command_writes_line_images(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = synth_cmd.main(
        [
            "lines",
            "--out",
            str(tmp_path / "out"),
            "-n",
            "2",
            "--workers",
            "1",
            "--quiet",
            "--fonts",
            str(empty),
            "--texts",
            str(empty),
        ]
    )
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "line_000000.png",
        "line_000000.xml",
        "line_000001.png",
        "line_000001.xml",
        "manifest.json",
    ]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "lines" and manifest["count"] == 2 and manifest["fonts"]


# --- fonts ---------------------------------------------------------------------------------


def make_subset(source: Path, target: Path, codes: range) -> None:
    from fontTools import subset

    options = subset.Options()
    options.layout_features = []  # no GSUB/GPOS closure: a second instead of two
    options.drop_tables += ["GSUB", "GPOS", "GDEF"]
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=list(codes))
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


@pytest.fixture(scope="module")
def split_family(tmp_path_factory: pytest.TempPathFactory, faces: list[FontFace]) -> Path:
    """A cache with one family split like Fontsource's latin and latin-ext subset files."""
    cache = tmp_path_factory.mktemp("fonts")
    (cache / "dejavu").mkdir()
    make_subset(faces[0].paths[0], cache / "dejavu/latin.ttf", range(0x20, 0x100))
    make_subset(faces[0].paths[0], cache / "dejavu/latin-ext.ttf", range(0x100, 0x250))
    write_manifest(
        cache,
        {
            "packages": [],
            "fonts": [
                {
                    "family": "Split Sans",
                    "files": ["dejavu/latin.ttf", "dejavu/latin-ext.ttf"],
                    "package": "@fontsource/split-sans",
                    "version": "1.0.0",
                    "license": "OFL-1.1",
                }
            ],
        },
    )
    return cache


def test_a_family_split_in_subsets_loads_as_one_face(split_family: Path) -> None:
    (face,) = load_fonts(split_family)
    assert face.family == "Split Sans" and face.license == "OFL-1.1"
    assert face.source == "@fontsource/split-sans 1.0.0"
    assert face.file_for("a") == 0 and face.file_for("é") == 0
    assert face.file_for("ą") == 1 and face.file_for("ł") == 1
    assert face.file_for("✓") is None
    assert face.covers("Zażółć gęślą") and not face.covers("Zażółć ✓")
    assert face.missing("ok ✓ ☃") == {"✓", "☃"}


def test_characters_of_either_subset_are_drawn(split_family: Path) -> None:
    (face,) = load_fonts(split_family)
    rng = np.random.default_rng(0)
    hand = sample_hand(rng, [face], x_height=20)
    line = render_line("ąłę", hand, rng)  # every glyph from the latin-ext file
    assert line.text == "ąłę" and (line.mask > 0.5).sum() > 50


def test_manifest_coverage_is_used_and_missing_files_are_skipped(
    split_family: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(split_family, cache)
    manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    manifest["fonts"][0]["coverage"] = ["41-43", "105"]  # A-C, then ą
    manifest["fonts"].append({"family": "Gone", "files": ["gone/x.woff"], "package": "x"})
    write_manifest(cache, manifest)
    (face,) = load_fonts(cache)
    assert face.file_for("B") == 0 and face.file_for("a") is None and face.file_for("ą") == 1
    assert load_fonts(tmp_path / "no-cache") == []


def test_cmap_coverage_round_trips_through_ranges(faces: list[FontFace]) -> None:
    codes = read_cmap(faces[0].paths[0])
    assert {ord("a"), ord("é"), ord("ą")} <= codes
    assert parse_ranges(format_ranges(codes)) == codes
    assert format_ranges([0x20, 0x21, 0x22, 0x41, 0x100]) == "20-22,41,100"


# --- licences ------------------------------------------------------------------------------

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hand

Files: *
Copyright: 2005 Someone
License: GPL-3+

Files: hand.sfd
Copyright: 2005 Someone
License: OFL-1.1

Files: debian/*
License: GPL-2+
"""
DEP5_OFL = DEP5.replace("License: GPL-3+", "License: SIL-1.1", 1)
FREE_TEXT_OFL = (
    "Copyright (c) 2007 J.\n\nThis Font Software is licensed under the SIL Open Font\n"
    " License, Version 1.1."
)
FREE_TEXT_GPL = "SJFonts are licensed under the GNU General Public License but with an exception."


@pytest.mark.parametrize(
    ("text", "font_file", "expected"),
    [
        (DEP5, "hand.ttf", "GPL-3+"),  # the built font is GPL even though its source is OFL
        (DEP5, "hand.sfd", "OFL-1.1"),
        (DEP5_OFL, "hand.ttf", "OFL-1.1"),  # SIL-1.1 is Debian's name for OFL 1.1
        (FREE_TEXT_OFL, "Ecolier.ttf", "OFL-1.1"),
        (FREE_TEXT_GPL, "Steve.ttf", "GPL"),
        ("No licence here.", "x.ttf", None),
    ],
)
def test_debian_licences_are_read_from_the_copyright_file(
    text: str, font_file: str, expected: str | None
) -> None:
    assert debian_license(text, font_file) == expected


@pytest.mark.parametrize(
    ("declared", "license_text", "expected"),
    [
        ("OFL-1.1", "licensed under the SIL Open Font License, Version 1.1.", "OFL-1.1"),
        ("Apache-2.0", "Apache License\n  Version 2.0, January 2004", "Apache-2.0"),
        (
            "Apache-2.0",
            "Licensed under the Apache License, Version 2.0 (the License)",
            "Apache-2.0",
        ),
        ("OFL-1.1", "Licensed under the Apache License, Version 2.0", None),  # disagree
    ],
)
def test_npm_licences_must_agree_with_the_license_file(
    tmp_path: Path, declared: str, license_text: str, expected: str | None
) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"license": declared}), encoding="utf-8")
    (tmp_path / "LICENSE").write_text(license_text, encoding="utf-8")
    assert npm_license(tmp_path)[0] == expected
    assert license_in_text("nothing") is None


def test_fetch_skips_what_the_manifest_already_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object) -> None:
        raise AssertionError("fetched a package the manifest already lists")

    monkeypatch.setattr(fonts_mod, "fetch_npm", no_network)
    monkeypatch.setattr(fonts_mod, "fetch_debian", no_network)
    write_manifest(
        tmp_path,
        {
            "fonts": [],
            "packages": [
                {
                    "package": "@fontsource/caveat",
                    "version": "5.3.0",
                    "license": "OFL-1.1",
                    "status": "ok",
                    "reason": "",
                },
                {
                    "package": "deb:fonts-sjfonts",
                    "version": "2.1-2",
                    "license": "GPL",
                    "status": "refused",
                    "reason": "licence GPL not allowed",
                },
            ],
        },
    )
    summary = fetch_fonts(
        tmp_path, npm_families=["caveat"], debian_packages={"fonts-sjfonts": None}
    )
    assert summary.fetched == [] and summary.failed == []
    assert "@fontsource/caveat" in summary.already


# --- text ----------------------------------------------------------------------------------


def test_text_is_deterministic_for_a_seed_and_normalised(corpus: Corpus) -> None:
    def sample(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        return [corpus.line(rng) for _ in range(40)] + [corpus.paragraph(rng, 3)]

    first = sample(1)
    assert first == sample(1) and first != sample(2)
    assert all(text == normalize_text(text) and text for text in first)


def test_letter_furniture_looks_like_letters(corpus: Corpus) -> None:
    rng = np.random.default_rng(0)
    dates = [corpus.date(rng) for _ in range(60)]
    assert any(re.fullmatch(r"[A-Z][a-z]+ \d{1,2}(st|nd|rd|th),? 1[89]\d\d", d) for d in dates)
    assert any(re.fullmatch(r"\d{1,2}/\d{1,2}/\d\d", d) for d in dates)
    assert all(corpus.salutation(rng).endswith(",") for _ in range(20))
    assert all(corpus.closing(rng).endswith(",") for _ in range(20))
    words = " ".join(corpus.words_line(rng, 12) for _ in range(30))
    assert re.search(r"[éèêàçôöëü]", words)  # French and accented words turn up


def test_the_text_cache_is_read_with_its_licences(tmp_path: Path) -> None:
    (tmp_path / corpus_mod.EXAMPLES_FILE).write_text(
        "the cat sat on the mat\nthe dog ran\n", encoding="utf-8"
    )
    (tmp_path / corpus_mod.WORDS_FILE).write_text("zephyr\n", encoding="utf-8")
    source = {
        "name": "wordnet-base",
        "package": "wordnet-base",
        "version": "1:3.0-37",
        "license": "WordNet3.0",
        "path": corpus_mod.EXAMPLES_FILE,
    }
    write_manifest(tmp_path, {"sources": [source]})
    loaded = load_corpus(tmp_path, system=False)
    assert loaded.sentences == ("the cat sat on the mat", "the dog ran")
    assert loaded.frequent_words[0] == "the" and loaded.rare_words == ("zephyr",)
    assert loaded.sources[0].license == "WordNet3.0"
    assert (
        corpus_mod.text_license(
            "Permission to use, copy, modify, distribute and sell these word lists"
        )
        == "SCOWL"
    )
