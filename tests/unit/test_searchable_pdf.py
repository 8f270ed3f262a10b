"""The searchable PDF, read back with pdfminer.six and PDFium: words in order and on their
boxes, the upload's image bytes and pages untouched, rotated and cropped PDF pages, PDF/A.

Where the text should land is found independently of the code under test: PDF pages are
drawn with black bars, rendered by PDFium as the worker renders them, and the bars' pixel
boxes become the OCR lines; the text read back is then mapped to the same pixels by PDFium
(``FPDF_PageToDevice``) and by pdfminer's own page transform.
"""

from __future__ import annotations

import ctypes
import io
import math
import os
import stat
import subprocess
import sys
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTComponent, LTTextLine
from PIL import Image, ImageOps

from shared.errors import CorruptDocument, CorruptImage, EncryptedDocument
from shared.exporters.markup import split_words
from shared.exporters.pdfa import parse_verapdf_report, verapdf_verdict
from shared.exporters.searchable_pdf import write_searchable_pdf
from shared.schemas import LineOut, PageOut, ResultOut

DPI = 200
K = DPI / 72  # pixels per point at the worker's rendering resolution
TOLERANCE_PT = 2.0  # how far a word read back may be from its OCR box, in points
PDF, JPEG, PNG, TIFF = "application/pdf", "image/jpeg", "image/png", "image/tiff"
PixelBox = tuple[float, float, float, float]


# --- building uploads and results -------------------------------------------------------


def line(text: str, bbox: Sequence[float]) -> LineOut:
    return LineOut(text=text, confidence=0.9, bbox=[round(v) for v in bbox])


def page(index: int, size: tuple[int, int] | None, lines: list[LineOut]) -> PageOut:
    width, height = size if size else (None, None)
    text = "\n".join(item.text for item in lines)
    return PageOut(
        index=index, width=width, height=height, status="succeeded", text=text, lines=lines
    )


def result(*pages: PageOut) -> ResultOut:
    return ResultOut(job_id="job-1", status="succeeded", text="", model="m", pages=list(pages))


def image_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def scan(size: tuple[int, int] = (1000, 600), mode: str = "L") -> Image.Image:
    """A page with a few dark marks, so that re-encoding would show."""
    image = Image.new(mode, size, "white")
    for x in range(50, size[0] - 50, 37):
        image.paste("black" if mode != "1" else 0, (x, 100, x + 20, 140))
    return image


IMAGE_LINES = [
    line("Dear Sir, I write to you", [100, 100, 900, 150]),
    line("Héllo wörld \u017f ß", [100, 250, 700, 300]),  # a long s
]


def build(
    tmp_path: Path, upload: bytes, media_type: str, res: ResultOut, *, pdfa: bool = False
) -> Path:
    source, out = tmp_path / "upload", tmp_path / "out.pdf"
    source.write_bytes(upload)
    write_searchable_pdf(source, media_type, res, out, pdfa=pdfa)
    return out


# --- reading back -----------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str
    box: PixelBox  # in the pixels of the page rendered at DPI, origin top left


def words_of(chars: Iterator[tuple[str, PixelBox]]) -> list[Word]:
    """Consecutive non-blank characters as words, their boxes joined."""
    words: list[Word] = []
    current: list[tuple[str, PixelBox]] = []
    for text, box in [*chars, (" ", (0, 0, 0, 0))]:
        if text.strip():
            current.append((text, box))
            continue
        if current:
            boxes = [b for _, b in current]
            joined = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            words.append(Word("".join(t for t, _ in current), joined))
            current = []
    return words


def pdfium_words(path: Path, index: int = 0, scale: float = K) -> list[Word]:
    """Words PDFium reads, mapped to the pixels of the page as PDFium renders it at
    ``scale`` pixels a point (DPI by default)."""
    doc = pdfium.PdfDocument(path)
    try:
        pdf_page = doc[index]
        # The size PDFium renders at: the visible box after /Rotate, rounded up.
        width, height = (
            math.ceil(side * scale) for side in (pdf_page.get_width(), pdf_page.get_height())
        )
        text_page = pdf_page.get_textpage()

        def to_pixels(x: float, y: float) -> tuple[int, int]:
            dx, dy = ctypes.c_int(), ctypes.c_int()
            pdfium_c.FPDF_PageToDevice(
                pdf_page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy)
            )
            return dx.value, dy.value

        def chars() -> Iterator[tuple[str, PixelBox]]:
            for i in range(text_page.count_chars()):
                left, bottom, right, top = text_page.get_charbox(i, loose=True)
                (ax, ay), (bx, by) = to_pixels(left, bottom), to_pixels(right, top)
                box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
                yield text_page.get_text_range(i, 1), box

        words = words_of(chars())
        text_page.close()
        pdf_page.close()
        return words
    finally:
        doc.close()


def pdfminer_lines(path: Path, index: int = 0) -> list[LTTextLine]:
    """pdfminer's text lines; ``all_texts`` because the layer is a Form XObject (a figure)."""
    layout = list(extract_pages(path, laparams=LAParams(all_texts=True)))[index]
    found: list[LTTextLine] = []

    def walk(item: LTComponent) -> None:
        if isinstance(item, LTTextLine):
            found.append(item)
            return
        for child in getattr(item, "_objs", []):
            walk(child)

    walk(layout)
    return found


def pdfminer_words(
    path: Path, shown: tuple[float, float, float, float], index: int = 0, scale: float = K
) -> list[Word]:
    """pdfminer's words in pixels (``scale`` a point); ``shown`` is the visible box in
    pdfminer's page space."""
    left, _, _, top = shown

    def chars() -> Iterator[tuple[str, PixelBox]]:
        for text_line in pdfminer_lines(path, index):
            for char in text_line:
                if isinstance(char, LTChar):
                    x0, y0, x1, y1 = char.bbox
                    box = (x0 - left, top - y1, x1 - left, top - y0)
                    yield (
                        char.get_text(),
                        (box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale),
                    )
            yield "\n", (0, 0, 0, 0)

    return words_of(chars())


def pdfminer_space(media: Sequence[float], rotate: int, box: Sequence[float]) -> PixelBox:
    """``box`` (user space) in pdfminer's page space: its page transform, by rotation."""
    x0, y0, x1, y1 = media
    a, b, c, d, e, f = {
        0: (1, 0, 0, 1, -x0, -y0),
        90: (0, -1, 1, 0, -y0, x1),
        180: (-1, 0, 0, -1, x1, y1),
        270: (0, 1, -1, 0, y1, -x0),
    }[rotate]
    corners = [(a * x + c * y + e, b * x + d * y + f) for x in box[0::2] for y in box[1::2]]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return min(xs), min(ys), max(xs), max(ys)


def expected_words(lines: list[LineOut]) -> list[Word]:
    return [
        Word(w.text, w.box)
        for item in lines
        for w in split_words(item.text, tuple(item.bbox))  # type: ignore[arg-type]
        if w.box is not None
    ]


def assert_words_on_boxes(found: list[Word], lines: list[LineOut], scale: float = K) -> None:
    """Every line's words, in order, each within TOLERANCE_PT of its OCR box."""
    expected = expected_words(lines)
    assert [w.text for w in found] == [w.text for w in expected]
    for got, want in zip(found, expected, strict=True):
        off = max(abs(g - w) for g, w in zip(got.box, want.box, strict=True)) / scale
        assert off <= TOLERANCE_PT, (got, want, off)


def raw_images(path: Path) -> list[tuple[str, bytes]]:
    """(filter, raw stream bytes) of every image on every page."""
    with pikepdf.open(path) as pdf:
        return [
            (str(obj.get("/Filter")), obj.read_raw_bytes())
            for pdf_page in pdf.pages
            for obj in pdf_page.get_images(recursive=False).values()
        ]


def decoded_images(path: Path) -> list[Image.Image]:
    images = []
    with pikepdf.open(path) as pdf:
        for pdf_page in pdf.pages:
            for obj in pdf_page.get_images(recursive=False).values():
                assert isinstance(obj, pikepdf.Stream)
                images.append(pikepdf.PdfImage(obj).as_pil_image())
    return images


def render(path: Path, index: int = 0, dpi: float = DPI) -> np.ndarray:
    doc = pdfium.PdfDocument(path)
    try:
        pdf_page = doc[index]
        bitmap = pdf_page.render(scale=dpi / 72, grayscale=True)
        pixels = bitmap.to_numpy().copy()
        bitmap.close()
        pdf_page.close()
        return pixels
    finally:
        doc.close()


# --- image uploads ----------------------------------------------------------------------


def test_a_jpeg_keeps_its_bytes_and_its_words_read_back_on_their_boxes(tmp_path: Path) -> None:
    upload = image_bytes(scan(), "JPEG", quality=80, dpi=(DPI, DPI))
    out = build(tmp_path, upload, JPEG, result(page(0, (1000, 600), IMAGE_LINES)))
    assert raw_images(out) == [("/DCTDecode", upload)]
    with pikepdf.open(out) as pdf:
        assert [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 360, 216]  # 1000x600 px
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)
    assert_words_on_boxes(pdfminer_words(out, (0, 0, 360, 216)), IMAGE_LINES)


def test_the_text_is_drawn_invisibly_under_the_image(tmp_path: Path) -> None:
    upload = image_bytes(scan(), "JPEG", quality=80, dpi=(DPI, DPI))
    plain = build(tmp_path, upload, JPEG, result(page(0, (1000, 600), [])))
    (tmp_path / "plain.pdf").write_bytes(plain.read_bytes())
    with_text = build(tmp_path, upload, JPEG, result(page(0, (1000, 600), IMAGE_LINES)))
    assert np.array_equal(render(tmp_path / "plain.pdf"), render(with_text))
    with pikepdf.open(with_text) as pdf:
        contents = pdf.pages[0].obj.Contents
        first = contents[0].read_bytes()
        assert first.startswith(b"q ") and first.rstrip().endswith(b"Do Q")  # drawn first
        layer = pdf.pages[0].obj.Resources.XObject.QuireOCR
        assert b"3 Tr" in layer.read_bytes() and layer.Subtype == "/Form"


def test_a_png_and_a_g4_tiff_pass_through_without_recompression(tmp_path: Path) -> None:
    gray = scan()
    png = image_bytes(gray, "PNG", dpi=(DPI, DPI))
    out = build(tmp_path, png, PNG, result(page(0, (1000, 600), IMAGE_LINES)))
    assert [f for f, _ in raw_images(out)] == ["/FlateDecode"]
    assert np.array_equal(np.asarray(decoded_images(out)[0]), np.asarray(gray))

    bilevel = scan(mode="1")
    g4 = image_bytes(bilevel, "TIFF", compression="group4", dpi=(DPI, DPI))
    out = build(tmp_path, g4, TIFF, result(page(0, (1000, 600), IMAGE_LINES)))
    [(filters, data)] = raw_images(out)
    assert "/CCITTFaxDecode" in filters
    assert len(data) < len(g4)  # the G4 strip alone, not a re-encoding of the pixels
    decoded = np.asarray(decoded_images(out)[0].convert("L"))
    assert np.array_equal(decoded, np.asarray(bilevel.convert("L")))
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)


@pytest.mark.parametrize(
    ("fmt", "media_type", "mode"),
    [
        ("WEBP", "image/webp", "RGB"),
        ("BMP", "image/bmp", "RGB"),
        ("GIF", "image/gif", "P"),
        ("PNG", PNG, "RGBA"),
    ],
)
def test_other_images_are_embedded_losslessly(
    tmp_path: Path, fmt: str, media_type: str, mode: str
) -> None:
    picture = scan(mode="RGB").convert(mode)
    upload = image_bytes(picture, fmt)
    out = build(tmp_path, upload, media_type, result(page(0, (1000, 600), IMAGE_LINES)))
    decoded = Image.open(io.BytesIO(upload)).convert("RGB")
    assert np.array_equal(np.asarray(decoded_images(out)[0].convert("RGB")), np.asarray(decoded))
    assert_words_on_boxes(pdfium_words(out, scale=300 / 72), IMAGE_LINES, scale=300 / 72)


def test_a_multi_frame_tiff_gives_one_page_per_frame(tmp_path: Path) -> None:
    frames = [scan(), scan((800, 500))]
    tiff = image_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:], dpi=(DPI, DPI))
    second = [line("page two", [80, 80, 500, 130])]
    res = result(page(0, (1000, 600), IMAGE_LINES), page(1, (800, 500), second))
    out = build(tmp_path, tiff, TIFF, res)
    assert_words_on_boxes(pdfium_words(out, 0), IMAGE_LINES)
    assert_words_on_boxes(pdfium_words(out, 1), second)


def test_an_exif_rotated_jpeg_keeps_its_bytes_and_its_text_is_upright(tmp_path: Path) -> None:
    stored = scan((600, 1000))  # as the camera wrote it; orientation 6: turn 90 clockwise
    exif = Image.Exif()
    exif[274] = 6
    upload = image_bytes(stored, "JPEG", quality=80, dpi=(DPI, DPI), exif=exif)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(upload)))
    assert upright.size == (1000, 600)  # what the OCR saw, and the result's page size
    out = build(tmp_path, upload, JPEG, result(page(0, upright.size, IMAGE_LINES)))
    assert raw_images(out) == [("/DCTDecode", upload)]
    assert render(out).shape[:2] == (600, 1000)
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)


def test_a_mirroring_exif_orientation_is_embedded_upright_as_png(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[274] = 2  # mirrored: /Rotate cannot show it as the OCR saw it
    upload = image_bytes(scan(), "JPEG", quality=95, dpi=(DPI, DPI), exif=exif)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(upload)))
    out = build(tmp_path, upload, JPEG, result(page(0, upright.size, IMAGE_LINES)))
    assert [f for f, _ in raw_images(out)] == ["/FlateDecode"]
    assert np.array_equal(np.asarray(decoded_images(out)[0]), np.asarray(upright.convert("L")))
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)


def test_an_image_without_a_resolution_is_taken_as_300_dpi(tmp_path: Path) -> None:
    upload = image_bytes(scan(), "PNG")
    out = build(tmp_path, upload, PNG, result(page(0, (1000, 600), IMAGE_LINES)))
    with pikepdf.open(out) as pdf:
        assert [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 240, 144]
    assert_words_on_boxes(
        pdfminer_words(out, (0, 0, 240, 144), scale=300 / 72), IMAGE_LINES, scale=300 / 72
    )


def test_every_character_reads_back_as_itself(tmp_path: Path) -> None:
    text = "é ß \u017f ꝛ 漢字 😀 e\u0301 Ω"  # a long s, an r rotunda, a combining accent
    hebrew = "שלום עולם"
    lines = [line(text, [50, 50, 950, 90]), line(hebrew, [50, 150, 500, 190])]
    upload = image_bytes(scan(), "PNG", dpi=(DPI, DPI))
    out = build(tmp_path, upload, PNG, result(page(0, (1000, 600), lines)))
    # Right-to-left text is drawn in logical order; pdfminer reads it so.
    assert [item.get_text().rstrip("\n") for item in pdfminer_lines(out)] == [text, hebrew]
    doc = pdfium.PdfDocument(out)
    try:
        text_page = doc[0].get_textpage()
        first_line = text_page.get_text_range().splitlines()[0]
        text_page.close()
    finally:
        doc.close()
    assert unicodedata.normalize("NFC", first_line) == unicodedata.normalize("NFC", text)


# --- PDF uploads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    media: tuple[float, float, float, float]
    crop: tuple[float, float, float, float] | None
    rotate: int
    bars: tuple[tuple[float, float, float, float], ...]  # x, y, w, h in user space


GEOMETRIES = {
    "plain": Geometry((0, 0, 612, 792), None, 0, ((72, 700, 400, 20), (72, 600, 250, 24))),
    "rotated 90": Geometry((0, 0, 612, 792), None, 90, ((100, 100, 20, 400), (200, 100, 24, 250))),
    "cropped": Geometry(
        (0, 0, 612, 792), (100, 150, 500, 650), 0, ((150, 500, 300, 20), (150, 300, 200, 24))
    ),
    "offset, cropped, 270": Geometry(
        (100, 200, 712, 992), (150, 250, 650, 950), 270, ((500, 400, 20, 350), (400, 400, 24, 200))
    ),
}


def bar_pdf(
    path: Path, geometry: Geometry, bars: Sequence[tuple[float, ...]], pages: int = 1
) -> None:
    """A page (or several alike) drawn with black bars, boxes as ``geometry`` says."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf_page = pdf.add_blank_page()
        pdf_page.obj.MediaBox = pikepdf.Array(geometry.media)
        if geometry.crop is not None:
            pdf_page.obj.CropBox = pikepdf.Array(geometry.crop)
        if geometry.rotate:
            pdf_page.obj.Rotate = geometry.rotate
        drawing = "0 g\n" + "".join("{} {} {} {} re f\n".format(*bar) for bar in bars)
        pdf_page.obj.Contents = pdf.make_stream(drawing.encode("ascii"))
    pdf.save(path)


def ink_box(
    tmp_path: Path, geometry: Geometry, bar: tuple[float, ...]
) -> tuple[int, int, int, int]:
    """Where PDFium, rendering at DPI as the worker does, paints ``bar``: its pixel box."""
    path = tmp_path / "one-bar.pdf"
    bar_pdf(path, geometry, [bar])
    dark = np.argwhere(render(path) < 128)
    (top, left), (bottom, right) = dark.min(axis=0), dark.max(axis=0)
    return int(left), int(top), int(right) + 1, int(bottom) + 1


@pytest.mark.parametrize("name", GEOMETRIES)
def test_a_pdf_page_gets_its_words_on_the_ink_they_were_read_from(
    tmp_path: Path, name: str
) -> None:
    geometry = GEOMETRIES[name]
    texts = ["Dear Sir, I write", "Yours faithfully"]
    lines = [
        line(t, ink_box(tmp_path, geometry, bar))
        for t, bar in zip(texts, geometry.bars, strict=True)
    ]
    bar_pdf(tmp_path / "upload.pdf", geometry, geometry.bars)
    rendered = render(tmp_path / "upload.pdf")
    size = rendered.shape[1], rendered.shape[0]
    out = build(tmp_path, (tmp_path / "upload.pdf").read_bytes(), PDF, result(page(0, size, lines)))

    assert_words_on_boxes(pdfium_words(out), lines)
    shown = geometry.crop or geometry.media
    assert_words_on_boxes(
        pdfminer_words(out, pdfminer_space(geometry.media, geometry.rotate, shown)), lines
    )
    assert np.array_equal(render(out), rendered)  # nothing visible changed


def test_a_pdf_keeps_its_pages_boxes_and_content(tmp_path: Path) -> None:
    geometry = GEOMETRIES["offset, cropped, 270"]
    bar_pdf(tmp_path / "upload.pdf", geometry, geometry.bars, pages=3)
    upload = (tmp_path / "upload.pdf").read_bytes()
    res = result(
        page(0, (1944, 1389), [line("first page", [100, 100, 900, 160])]),
        page(1, (1944, 1389), []),  # a page with no lines (failed, or blank)
        page(2, None, []),  # a page not processed yet
    )
    out = build(tmp_path, upload, PDF, res)
    with pikepdf.open(io.BytesIO(upload)) as before, pikepdf.open(out) as after:
        assert len(after.pages) == 3
        for old, new in zip(before.pages, after.pages, strict=True):
            for key in ("/MediaBox", "/CropBox", "/Rotate"):
                assert new.obj[key] == old.obj[key]
            # A layer is drawn first; the page's own content follows, byte for byte.
            contents = new.obj.Contents
            own = contents[-1] if isinstance(contents, pikepdf.Array) else contents
            assert own.read_raw_bytes() == old.obj.Contents.read_raw_bytes()
    assert [w.text for w in pdfium_words(out, 0)] == ["first", "page"]
    assert pdfium_words(out, 1) == [] and pdfium_words(out, 2) == []


def test_pages_sharing_one_resource_dictionary_each_get_their_own_layer(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    shared = pdf.make_indirect(pikepdf.Dictionary(XObject=pikepdf.Dictionary()))
    for _ in range(2):
        pdf_page = pdf.add_blank_page(page_size=(360, 216))
        pdf_page.obj.Resources = shared
    pdf.save(tmp_path / "upload.pdf")
    res = result(
        page(0, (1000, 600), [line("left", [0, 0, 400, 50])]),
        page(1, (1000, 600), [line("right", [500, 0, 900, 50])]),
    )
    out = build(tmp_path, (tmp_path / "upload.pdf").read_bytes(), PDF, res)
    assert [w.text for w in pdfium_words(out, 0)] == ["left"]
    assert [w.text for w in pdfium_words(out, 1)] == ["right"]


@pytest.mark.parametrize(
    ("upload", "media_type", "error"),
    [
        (b"%PDF-1.7\nnot really", PDF, CorruptDocument),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, PNG, CorruptImage),
    ],
)
def test_an_unreadable_upload_is_a_clear_error(
    tmp_path: Path, upload: bytes, media_type: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        build(tmp_path, upload, media_type, result())


def test_a_password_protected_pdf_is_an_encrypted_document(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(user="secret", owner="o"))
    with pytest.raises(EncryptedDocument):
        build(tmp_path, (tmp_path / "locked.pdf").read_bytes(), PDF, result())


# --- PDF/A ------------------------------------------------------------------------------


def test_pdfa_is_declared_and_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no verapdf: pikepdf's validator decides
    source, out = tmp_path / "upload", tmp_path / "out.pdf"
    source.write_bytes(image_bytes(scan(), "JPEG", dpi=(DPI, DPI)))
    verdict = write_searchable_pdf(
        source, JPEG, result(page(0, (1000, 600), IMAGE_LINES)), out, pdfa=True
    )
    assert verdict is not None and (verdict.status, verdict.validator) == ("valid", "pikepdf")
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")
        [intent] = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and intent.DestOutputProfile.N == 3
        assert "sRGB" in str(intent.OutputConditionIdentifier)
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)


def test_a_file_that_cannot_be_pdfa_is_served_plain_and_said_to_be_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cmyk = image_bytes(Image.new("CMYK", (1000, 600)), "JPEG", dpi=(DPI, DPI))
    source, out = tmp_path / "upload", tmp_path / "out.pdf"
    source.write_bytes(cmyk)  # DeviceCMYK under an sRGB intent breaks PDF/A-2
    verdict = write_searchable_pdf(
        source, JPEG, result(page(0, (1000, 600), IMAGE_LINES)), out, pdfa=True
    )
    assert verdict is not None and verdict.status == "invalid" and "CMYK" in verdict.detail
    with pikepdf.open(out) as written:
        assert "pdfaid:part" not in written.open_metadata()
        assert "/OutputIntents" not in written.Root
    assert raw_images(out) == [("/DCTDecode", cmyk)]
    assert_words_on_boxes(pdfium_words(out), IMAGE_LINES)


def test_what_the_validator_does_not_check_is_unvalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    pdf = pikepdf.new()
    pdf_page = pdf.add_blank_page(page_size=(360, 216))
    helvetica = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
    )
    pdf_page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=helvetica))
    pdf_page.obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 10 10 Td (not embedded) Tj ET")
    pdf.save(tmp_path / "upload.pdf")
    out = tmp_path / "out.pdf"
    verdict = write_searchable_pdf(
        tmp_path / "upload.pdf", PDF, result(page(0, (1000, 600), IMAGE_LINES)), out, pdfa=True
    )
    assert verdict is not None and verdict.status == "unvalidated"
    assert "not embedded" in verdict.detail
    with pikepdf.open(out) as written:  # declared, for a validator that can tell to judge
        assert written.open_metadata()["pdfaid:part"] == "2"


@pytest.mark.parametrize(
    ("report", "status"),
    [
        (
            b'{"report": {"jobs": [{"validationResult": [{"details": {"failedRules": 0}}]}]}}',
            "valid",
        ),
        (
            b'{"report": {"jobs": [{"validationResult": {"details": {"failedRules": 3}}}]}}',
            "invalid",
        ),
        (b'{"report": {"jobs": []}}', "unvalidated"),
        (b"Exception in thread main", "unvalidated"),
    ],
)
def test_parse_verapdf_report(report: bytes, status: str) -> None:
    verdict = parse_verapdf_report(report)
    assert (verdict.status, verdict.validator) == (status, "verapdf")


def test_an_installed_verapdf_is_the_validator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "verapdf"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/args"\n'
        "echo '"
        + '{"report": {"jobs": [{"validationResult": [{"details": {"failedRules": 0}}]}]}}'
        + "'\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "some.pdf"
    verdict = verapdf_verdict(target)
    assert verdict is not None and (verdict.status, verdict.validator) == ("valid", "verapdf")
    assert (tmp_path / "args").read_text().split() == [
        "--format",
        "json",
        "--flavour",
        "2b",
        str(target),
    ]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert verapdf_verdict(target) is None


# --- memory ---------------------------------------------------------------------------

BUILD_AND_MEASURE = """
import sys
from pathlib import Path
from shared.exporters.searchable_pdf import write_searchable_pdf
from shared.schemas import LineOut, PageOut, ResultOut

def rss_kib(field):
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])

source, out, pages = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
lines = [
    LineOut(text=f"line {i} of the page", confidence=0.9, bbox=[10, 10 + 40 * i, 180, 40 + 40 * i])
    for i in range(4)
]
res = ResultOut(job_id="j", status="succeeded", text="", model=None, pages=[
    PageOut(index=i, width=200, height=200, status="succeeded", text="", lines=lines)
    for i in range(pages)
])
before = rss_kib("VmRSS")
write_searchable_pdf(source, "application/pdf", res, out)
print(rss_kib("VmHWM") - before)
"""
PAGES = 3000


def image_pdf(path: Path, pages: int, image_side: int) -> None:
    """``pages`` pages, each with its own incompressible gray image of ``image_side``²."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf_page = pdf.add_blank_page(page_size=(72, 72))
        image = pdf.make_stream(
            zlib.compress(os.urandom(image_side * image_side), 0),
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Image,
            Width=image_side,
            Height=image_side,
            ColorSpace=pikepdf.Name.DeviceGray,
            BitsPerComponent=8,
            Filter=pikepdf.Name.FlateDecode,
        )
        pdf_page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        pdf_page.obj.Contents = pdf.make_stream(b"q 72 0 0 72 0 0 cm /Im0 Do Q")
    pdf.save(path)


def build_growth_kib(tmp_path: Path, image_side: int) -> int:
    """How far a fresh process's memory grows building the PDF of a PAGES-page upload."""
    source, out = tmp_path / f"upload-{image_side}.pdf", tmp_path / f"out-{image_side}.pdf"
    image_pdf(source, PAGES, image_side)
    done = subprocess.run(
        [sys.executable, "-c", BUILD_AND_MEASURE, str(source), str(out), str(PAGES)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stat().st_size > PAGES * image_side * image_side  # every image is in it
    return int(done.stdout)


def test_3000_pages_are_written_in_memory_that_does_not_hold_their_images(
    tmp_path: Path,
) -> None:
    # 24 KiB of pixels a page, 70 MiB in all: holding them would break the bound twice
    # over, while page objects and text take a few KiB a page (qpdf's own objects half).
    growth = build_growth_kib(tmp_path, 157)
    assert growth < PAGES * 16, f"{growth} KiB for {PAGES} pages"
