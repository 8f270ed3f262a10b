"""A font with one blank glyph for every character, and its codes' Unicode (ToUnicode CMap).

The text layer is never painted, so its glyph needs no real shape: any script, emoji or private
use character is drawn with the same blank glyph, half an em wide, and reads back as itself
because a ToUnicode CMap maps each code to its character. The font is a Type0 font over an
embedded CIDFontType2 (a tiny TrueType program built here with fontTools), as PDF/A asks.

Codes are given out per document, in order of first use (``CodeBook``), so the CMap covers
exactly the characters drawn, beyond the Basic Multilingual Plane too.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from functools import cache

import pikepdf
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from pikepdf import Array, Dictionary, Name, Object

FONT_NAME = "QuireGlyphless"
UNITS_PER_EM = 1000
ADVANCE = 500  # GLYPH_WIDTH of shared.exporters.text_layer, in font units
ASCENT, DESCENT = 800, -200
MAX_CODE = 0xFFFF  # two-byte codes (Identity-H)
REPLACEMENT = "\ufffd"  # what a character past the last code reads as
_BFCHAR_LIMIT = 100  # entries per beginbfchar block (PDF 32000-1, 9.10.3)

_CMAP_HEAD = """/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
"""
_CMAP_TAIL = """endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""


@cache
def font_program() -> bytes:
    """The TrueType program: ``.notdef`` (empty) and ``blank``, both ``ADVANCE`` wide.

    ``blank`` is a box from the descent to the ascent: never painted (text render mode 3),
    it gives each character a full-height box, so viewers highlight search hits and
    selections over the words rather than as a hairline on the baseline.
    """
    builder = FontBuilder(UNITS_PER_EM, isTTF=True)
    builder.setupGlyphOrder([".notdef", "blank"])
    builder.setupCharacterMap({0x20: "blank"})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "blank": _box_glyph()})
    builder.setupHorizontalMetrics({".notdef": (ADVANCE, 0), "blank": (ADVANCE, 0)})
    builder.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    builder.setupNameTable({"familyName": FONT_NAME, "styleName": "Regular"})
    builder.setupOS2(
        sTypoAscender=ASCENT,
        sTypoDescender=DESCENT,
        usWinAscent=ASCENT,
        usWinDescent=-DESCENT,
    )
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def _box_glyph() -> object:
    pen = TTGlyphPen(None)
    pen.moveTo((0, DESCENT))
    pen.lineTo((0, ASCENT))
    pen.lineTo((ADVANCE, ASCENT))
    pen.lineTo((ADVANCE, DESCENT))
    pen.closePath()
    return pen.glyph()


class CodeBook:
    """Two-byte codes for characters, given out from 1 in order of first use."""

    def __init__(self, limit: int = MAX_CODE) -> None:
        self._codes: dict[str, int] = {}
        self._limit = limit

    @property
    def characters(self) -> list[str]:
        """The characters in code order: code ``i + 1`` is ``characters[i]``."""
        return list(self._codes)

    def encode(self, text: str) -> str:
        """The codes of ``text``'s characters as hex, four digits each."""
        return "".join(f"{self._code(ch):04X}" for ch in text)

    def _code(self, ch: str) -> int:
        code = self._codes.get(ch)
        if code is not None:
            return code
        if len(self._codes) < self._limit - 1:  # the last code is kept for REPLACEMENT
            code = self._codes[ch] = len(self._codes) + 1
            return code
        return self._codes.setdefault(REPLACEMENT, len(self._codes) + 1)


def to_unicode_cmap(characters: Sequence[str]) -> bytes:
    """A ToUnicode CMap mapping code ``i + 1`` to ``characters[i]`` (UTF-16BE)."""
    entries = [
        f"<{code:04X}> <{ch.encode('utf-16-be').hex().upper()}>\n"
        for code, ch in enumerate(characters, start=1)
    ]
    blocks = [
        f"{len(chunk)} beginbfchar\n{''.join(chunk)}endbfchar\n"
        for chunk in (entries[i : i + _BFCHAR_LIMIT] for i in range(0, len(entries), _BFCHAR_LIMIT))
    ]
    return (_CMAP_HEAD + "".join(blocks) + _CMAP_TAIL).encode("ascii")


def cid_to_gid_map(count: int) -> bytes:
    """CIDToGIDMap for codes 0..count: code 0 to ``.notdef``, every other code to ``blank``."""
    return b"\x00\x00" + b"\x00\x01" * count


class GlyphlessFont:
    """The font in one PDF: made once, shared by every page, its maps written at the end.

    Attributes:
        font: The Type0 font dictionary.
        resource_name: What content streams call it (``/QuireText ... Tf``).
        resources: A resource dictionary naming it so, for every text layer to share.
    """

    resource_name = "QuireText"

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self._pdf = pdf
        self._book = CodeBook()
        self._cid_font = pdf.make_indirect(_cid_font(pdf))
        self.font = pdf.make_indirect(
            Dictionary(
                Type=Name.Font,
                Subtype=Name.Type0,
                BaseFont=Name("/" + FONT_NAME),
                Encoding=Name("/Identity-H"),
                DescendantFonts=Array([self._cid_font]),
            )
        )
        fonts = Dictionary({"/" + self.resource_name: self.font})
        self.resources = pdf.make_indirect(Dictionary(Font=fonts))

    def encode(self, text: str) -> str:
        """The hex codes ``Tj`` shows ``text`` with."""
        return self._book.encode(text)

    def finish(self) -> None:
        """Write the maps of every character encoded so far; call once, before saving."""
        characters = self._book.characters
        self.font.ToUnicode = flate_stream(self._pdf, to_unicode_cmap(characters))
        self._cid_font.CIDToGIDMap = flate_stream(self._pdf, cid_to_gid_map(len(characters)))


def flate_stream(pdf: pikepdf.Pdf, data: bytes, **entries: Object | int | str) -> pikepdf.Stream:
    """A stream holding ``data`` Flate-compressed, with ``entries`` in its dictionary.

    The document is saved without recompressing anything (the upload's streams stay as they
    are), so the streams made here are compressed when they are made.
    """
    stream = pikepdf.Stream(pdf, b"", **entries)
    stream.write(zlib.compress(data), filter=Name.FlateDecode)
    return stream


def _cid_font(pdf: pikepdf.Pdf) -> Dictionary:
    program = font_program()
    font_file = flate_stream(pdf, program, Length1=len(program))
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/" + FONT_NAME),
        Flags=4,  # symbolic: codes are glyph ids, not a standard encoding
        FontBBox=Array([0, DESCENT, ADVANCE, ASCENT]),
        ItalicAngle=0,
        Ascent=ASCENT,
        Descent=DESCENT,
        CapHeight=ASCENT,
        StemV=80,
        FontFile2=font_file,
    )
    return Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/" + FONT_NAME),
        CIDSystemInfo=Dictionary(
            Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
        ),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=ADVANCE,
        CIDToGIDMap=Name.Identity,
    )
