"""One line of synthetic handwriting: an ink mask, its polygon and its baseline.

A line is drawn glyph by glyph from cached glyph bitmaps (so letter spacing, baseline drift
and the subset file per character are ours to choose), then sheared for slant, thickened or
thinned, and cropped. Its polygon is an upper and a lower envelope of the ink, sampled on
column bins and widened to the neighbouring bins, so straight edges between samples never
cut a stroke.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from shared.textnorm import normalize_text
from training.synth.fonts import FontFace, _open_font

Rng = np.random.Generator
INK_THRESHOLD = 0.2  # mask value from which a pixel counts as ink for the geometry
POLY_PAD = 2.0  # px between the ink envelope and the polygon

# Replacements for characters a face cannot draw, before giving up on them.
_SUBSTITUTES = {"£": "L", "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "&": "+"}

INKS = (  # (r, g, b), weight: blue-black, black, iron-gall brown, royal blue, pencil, sepia
    ((22, 30, 72), 4.0),
    ((28, 26, 30), 3.0),
    ((72, 48, 30), 1.5),
    ((32, 52, 140), 2.0),
    ((88, 88, 92), 0.8),
    ((105, 78, 52), 0.7),
)


@dataclass(frozen=True)
class Ink:
    """Pen and ink: colour, how opaque a full stroke is, and strokes widened (+) or thinned (-)."""

    color: tuple[int, int, int]
    opacity: float
    stroke: int


@dataclass(frozen=True)
class Hand:
    """How one writer writes: face and size, slant, spacing, baseline wander, ink."""

    face: FontFace
    size: int  # font size in px
    x_height: float  # px, what ``size`` was chosen for
    slant: float  # shear: x moves by slant * (px above the baseline)
    tracking: float  # px added between letters, on average
    tracking_jitter: float  # px, standard deviation per letter
    word_space: float  # times the face's space advance
    drift_amp: float  # px, amplitude of the baseline's slow wave
    drift_period: float  # px
    rise: float  # px per px: writing uphill (<0) or downhill (>0)
    ink: Ink


@dataclass(frozen=True)
class RenderedLine:
    """A drawn line in its own crop: ``mask`` is ink coverage in [0, 1].

    ``top`` and ``bottom`` are the polygon's upper and lower chains, left to right;
    ``glyphs`` are the characters in the order drawn with their pen positions.
    """

    text: str
    mask: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    baseline: np.ndarray
    glyphs: tuple[tuple[str, float, float], ...]

    @property
    def polygon(self) -> np.ndarray:
        """The closed outline: the top chain, then the bottom chain backwards."""
        return np.concatenate([self.top, self.bottom[::-1]])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])


# --- hands ---------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def x_height_ratio(face: FontFace) -> float:
    """The face's x-height as a fraction of its font size (from the ``x`` glyph's bounds)."""
    index = face.file_for("x")
    if index is None:
        return 0.5
    _, y0, _, y1 = _open_font(str(face.paths[index]), 100).getbbox("x", anchor="ls")
    return max(0.2, min(0.9, -y0 / 100)) if y1 > y0 else 0.5


def sample_ink(rng: Rng) -> Ink:
    """A pen: mostly dark blue or black ink, sometimes brown, royal blue or pencil."""
    weights = np.array([w for _, w in INKS])
    color, _ = INKS[int(rng.choice(len(INKS), p=weights / weights.sum()))]
    jitter = rng.integers(-12, 13, size=3)
    rgb = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(color, jitter, strict=True))
    pencil = color == (88, 88, 92)
    opacity = float(rng.uniform(0.55, 0.8) if pencil else rng.uniform(0.82, 1.0))
    stroke = int(rng.choice([-1, 0, 0, 0, 1, 1, 2], p=[0.1, 0.2, 0.2, 0.15, 0.15, 0.12, 0.08]))
    return Ink(color=(rgb[0], rgb[1], rgb[2]), opacity=opacity, stroke=stroke)


def sample_hand(
    rng: Rng, faces: Sequence[FontFace], x_height: float, face: FontFace | None = None
) -> Hand:
    """A random writer whose lowercase letters are about ``x_height`` px tall.

    Args:
        rng: The generator to draw from.
        faces: Faces to choose from (ignored when ``face`` is given).
        x_height: Target x-height in px; the font size follows from the face's proportions.
        face: A fixed face, e.g. the same hand's signature.
    """
    face = face or faces[int(rng.integers(0, len(faces)))]
    size = max(8, round(x_height / x_height_ratio(face)))
    ink = sample_ink(rng)
    # Pen width scales with the writing: +2 px would clog a 14 px hand.
    stroke = int(np.clip(round(ink.stroke * x_height / 24), -1, 3))
    ink = Ink(ink.color, ink.opacity, stroke)
    return Hand(
        face=face,
        size=size,
        x_height=x_height,
        slant=float(np.clip(rng.normal(0.06, 0.1), -0.15, 0.35)),
        tracking=float(rng.normal(0.0, 0.025) * size),
        tracking_jitter=float(rng.uniform(0.0, 0.025) * size),
        word_space=float(rng.uniform(0.85, 1.7)),
        drift_amp=float(rng.uniform(0.0, 0.12) * x_height),
        drift_period=float(rng.uniform(4, 14) * size),
        rise=float(np.clip(rng.normal(0.0, 0.006), -0.015, 0.015)),
        ink=ink,
    )


def line_extent(hand: Hand) -> tuple[float, float]:
    """How far ascenders/capitals rise above and descenders fall below the baseline, in px."""
    tall, deep = 0.0, 0.0
    for ch in "bdfhkltABDHT":
        index = hand.face.file_for(ch)
        if index is not None:
            tall = max(tall, -_glyph(str(hand.face.paths[index]), hand.size, ch)[2])
    for ch in "gjpqy":
        index = hand.face.file_for(ch)
        if index is not None:
            bitmap, _, top = _glyph(str(hand.face.paths[index]), hand.size, ch)
            deep = max(deep, float(top + bitmap.shape[0]))
    return tall or hand.size * 0.75, deep or hand.size * 0.25


def fit_text(face: FontFace, text: str) -> str:
    """``text`` with what the face cannot draw replaced (é → e, £ → L) or dropped.

    The result is normalised, so it is exactly what ``render_line`` draws and what the
    ground truth records.
    """
    out = []
    for ch in normalize_text(text):
        if ch.isspace() or face.file_for(ch) is not None:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        for candidate in (base, _SUBSTITUTES.get(ch, "")):
            if candidate and face.covers(candidate):
                out.append(candidate)
                break
    return normalize_text("".join(out))


# --- glyphs --------------------------------------------------------------------------------


@lru_cache(maxsize=16384)
def _advance(path: str, size: int, text: str) -> float:
    return float(_open_font(path, size).getlength(text))


def _kern(path: str, size: int, left: str, right: str) -> float:
    pair = _advance(path, size, left + right)
    return pair - _advance(path, size, left) - _advance(path, size, right)


@lru_cache(maxsize=16384)
def _glyph(path: str, size: int, char: str) -> tuple[np.ndarray, int, int]:
    """The glyph's coverage bitmap and its top-left corner relative to the pen on the baseline."""
    font = _open_font(path, size)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(char, anchor="ls"))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), np.float32), 0, 0
    image = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(image).text((-x0, -y0), char, font=font, fill=255, anchor="ls")
    return np.asarray(image, dtype=np.float32) / 255.0, x0, y0


def measure(hand: Hand, text: str) -> float:
    """The width ``render_line`` gives ``text`` before jitter and slant, in px."""
    return _layout(hand, text, None)[1]


def _layout(
    hand: Hand, text: str, rng: Rng | None
) -> tuple[list[tuple[str, int, float, float]], float]:
    """Pen positions: (char, file index, x, baseline offset); and the pen's end x."""
    paths = [str(p) for p in hand.face.paths]
    space_index = hand.face.file_for(" ")
    space = _advance(paths[space_index or 0], hand.size, " ") * hand.word_space
    placed: list[tuple[str, int, float, float]] = []
    x, word_dy, prev = 0.0, 0.0, None
    for ch in text:
        if ch.isspace():
            placed.append((ch, -1, x, 0.0))
            x += space
            prev = None
            if rng is not None:
                x += float(rng.normal(0, 0.12)) * space
                word_dy = float(rng.normal(0, 0.04)) * hand.x_height
            continue
        index = hand.face.file_for(ch)
        if index is None:
            continue
        if prev is not None and prev[1] == index:
            x += _kern(paths[index], hand.size, prev[0], ch)
        placed.append((ch, index, x, word_dy))
        x += _advance(paths[index], hand.size, ch) + hand.tracking
        if rng is not None:
            x += float(rng.normal(0, hand.tracking_jitter))
        prev = (ch, index)
    return placed, x


# --- lines ---------------------------------------------------------------------------------


def render_line(text: str, hand: Hand, rng: Rng) -> RenderedLine:
    """Draw one line of ``text`` (already ``fit_text``-ed to the hand's face).

    Args:
        text: The line; characters the face lacks are skipped, so fit it first.
        hand: The writer.
        rng: The generator for spacing jitter and baseline wander.

    Returns:
        The cropped ink mask with the line's polygon, baseline and drawn glyphs in crop
        coordinates.
    """
    placed, end_x = _layout(hand, text, rng)
    phase = float(rng.uniform(0, 2 * np.pi))

    def drift(x: np.ndarray | float) -> np.ndarray | float:
        return hand.drift_amp * np.sin(2 * np.pi * np.asarray(x) / hand.drift_period + phase) + (
            hand.rise * np.asarray(x)
        )

    fonts = [_open_font(str(p), hand.size) for p in hand.face.paths]
    ascent = max(f.getmetrics()[0] for f in fonts)
    descent = max(f.getmetrics()[1] for f in fonts)
    wander = hand.drift_amp + abs(hand.rise) * end_x + 0.2 * hand.x_height
    margin = int(hand.size * 0.6 + abs(hand.slant) * (ascent + descent) + 4)
    height = int(ascent + descent + 2 * wander + 2 * margin)
    width = int(end_x + 2 * margin + hand.size)
    y0 = margin + wander + ascent
    canvas = np.zeros((height, width), np.float32)
    glyphs = []
    for ch, index, x, word_dy in placed:
        pen_x, pen_y = margin + x, y0 + float(drift(x)) + word_dy
        glyphs.append((ch, pen_x, pen_y))
        if index >= 0:
            _stamp(canvas, *_glyph(str(hand.face.paths[index]), hand.size, ch), pen_x, pen_y)
    # Shear about the baseline: points above it move right by slant * height above.
    shear = np.array([[1.0, -hand.slant, hand.slant * y0], [0.0, 1.0, 0.0]], np.float32)
    mask = cv2.warpAffine(canvas, shear, (width, height), flags=cv2.INTER_LINEAR)
    mask = _adjust_stroke(mask, hand.ink.stroke)
    xs = np.linspace(0, end_x, max(2, int(end_x // max(hand.size, 1)) + 2))
    base = np.stack([margin + xs, y0 + np.asarray(drift(xs))], axis=1)
    glyph_points = np.array([(gx, gy) for _, gx, gy in glyphs] or [(0.0, 0.0)])
    base, glyph_points = _apply(shear, base), _apply(shear, glyph_points)
    crop, offset = _crop(mask)
    top, bottom = envelope(crop, max(4, hand.size // 4), base - offset)
    moved = tuple(
        (ch, float(p[0] - offset[0]), float(p[1] - offset[1]))
        for (ch, _, _), p in zip(glyphs, glyph_points, strict=True)
    )
    return RenderedLine(text, crop, top, bottom, base - offset, moved)


def _stamp(canvas: np.ndarray, bitmap: np.ndarray, dx: int, dy: int, x: float, y: float) -> None:
    """Add a glyph at a pen position; overlapping strokes saturate rather than sum."""
    if bitmap.size == 0:
        return
    left, top = round(x) + dx, round(y) + dy
    h, w = bitmap.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, canvas.shape[0]), min(left + w, canvas.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, bitmap[y0 - top : y1 - top, x0 - left : x1 - left], out=region)


def _adjust_stroke(mask: np.ndarray, stroke: int) -> np.ndarray:
    if stroke > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (stroke + 1, stroke + 1))
        return cv2.dilate(mask, kernel)
    if stroke < 0:
        thinned = cv2.erode(mask, np.ones((2, 2), np.uint8))
        # A hairline face would vanish; keep thinning only where most of the ink survives.
        if thinned.sum() > 0.6 * mask.sum():
            return thinned
    return mask


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T.astype(np.float64) + matrix[:, 2].astype(np.float64)


def _crop(mask: np.ndarray, pad: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero((mask > 0.02).any(axis=1))
    cols = np.flatnonzero((mask > 0.02).any(axis=0))
    if rows.size == 0:
        return np.zeros((2 * pad, 2 * pad), np.float32), np.zeros(2)
    y0, y1 = max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + pad + 1)
    x0, x1 = max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + pad + 1)
    return np.ascontiguousarray(mask[y0:y1, x0:x1]), np.array([x0, y0], np.float64)


def envelope(
    mask: np.ndarray, bin_width: int, baseline: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower chains around the ink of ``mask``, left to right, ``POLY_PAD`` outside.

    Columns are grouped into bins; each bin's top is the highest ink in it and its two
    neighbours (bottom likewise), so the segment between two bin centres stays clear of ink.
    Bins without ink (gaps between words) follow the baseline.
    """
    h, w = mask.shape
    ink = mask > INK_THRESHOLD
    edges = np.arange(0, w, bin_width)
    has = ink.any(axis=0)
    top_col = np.where(has, ink.argmax(axis=0), h)
    bottom_col = np.where(has, h - 1 - ink[::-1].argmax(axis=0), -1)
    tops = np.minimum.reduceat(top_col, edges).astype(np.float64)
    bottoms = np.maximum.reduceat(bottom_col, edges).astype(np.float64)
    centres = np.minimum(edges + bin_width / 2, w - 1)
    line_y = np.interp(centres, baseline[:, 0], baseline[:, 1])
    empty = bottoms < 0
    tops[empty] = line_y[empty] - 0.6 * _x_extent(tops, bottoms, line_y)
    # Keep the baseline inside even over a hyphen or a comma alone in its bin.
    tops = np.minimum(tops, line_y - 2)
    bottoms = np.maximum(bottoms, line_y + 1)
    tops = _spread(tops, np.minimum)
    bottoms = _spread(bottoms, np.maximum)
    xs = np.concatenate([[0.0], centres, [w - 1.0]])
    top = np.stack(
        [xs, np.clip(np.concatenate([tops[:1], tops, tops[-1:]]) - POLY_PAD, 0, h - 1)], 1
    )
    bottom = np.stack(
        [xs, np.clip(np.concatenate([bottoms[:1], bottoms, bottoms[-1:]]) + POLY_PAD, 0, h - 1)], 1
    )
    return top, bottom


def _x_extent(tops: np.ndarray, bottoms: np.ndarray, line_y: np.ndarray) -> float:
    full = bottoms >= 0
    return float(np.median(line_y[full] - tops[full])) if full.any() else 10.0


def _spread(values: np.ndarray, pick: np.ufunc) -> np.ndarray:
    padded = np.concatenate([values[:1], values, values[-1:]])
    return pick(pick(padded[:-2], padded[1:-1]), padded[2:])
