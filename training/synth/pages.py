"""Synthetic handwritten letters and line images, with their PAGE XML ground truth.

A page is laid out like a letter (address and date at the right, salutation, paragraphs,
closing and signature, sometimes a postscript in a second hand) on paper with a colour and
texture, sometimes ruled, then rotated a little with all geometry rotated alike, blurred,
noised and JPEG-compressed. Lines are placed against a per-column skyline of the ink above,
so no two line polygons overlap and region boxes stack without overlapping.

Every item draws from its own ``numpy`` generator seeded by (seed, index, kind), so the
output does not depend on the number of worker processes.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from training.synth.corpus import Corpus, load_corpus
from training.synth.fonts import FontFace, available_faces
from training.synth.page_writer import PageLine, PageRegion, write_page_xml
from training.synth.render import (
    POLY_PAD,
    Hand,
    Ink,
    RenderedLine,
    fit_text,
    line_extent,
    measure,
    render_line,
    sample_hand,
)

Rng = np.random.Generator
KIND_CODES = {"pages": 1, "lines": 2}
PAPERS = (
    (247, 245, 239),  # white laid
    (242, 235, 216),  # cream
    (233, 221, 190),  # yellowed
    (226, 229, 233),  # blue-grey
    (224, 207, 172),  # aged
    (251, 251, 250),  # bright white
)
RULE_COLOURS = ((150, 178, 215), (170, 190, 205), (185, 160, 160))


@dataclass(frozen=True)
class SynthOptions:
    """Knobs of the generator; the defaults make realistic scans, tests turn effects off."""

    page_height: tuple[int, int] = (1200, 2500)
    ruled: float = 0.3  # probability of ruled paper
    two_hands: float = 0.2  # probability of a second writer on a page
    rotation: float = 1.5  # max |degrees| of the whole page (or line image)
    degrade: bool = True  # texture extras, uneven light, blur, noise, JPEG
    jpeg_quality: tuple[int, int] = (60, 95)
    line_x_height: tuple[float, float] = (14.0, 32.0)  # px, for line images


@dataclass
class SynthLine:
    """One generated line in image coordinates."""

    id: str
    text: str
    polygon: np.ndarray
    baseline: np.ndarray
    hand: str


@dataclass
class SynthRegion:
    id: str
    role: str
    lines: list[SynthLine] = field(default_factory=list)
    polygon: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


@dataclass
class SynthPage:
    """An image (H x W x 3, uint8) and its regions; ``jpeg_quality`` None means lossless."""

    image: np.ndarray
    regions: list[SynthRegion]
    jpeg_quality: int | None = None

    @property
    def lines(self) -> list[SynthLine]:
        return [line for region in self.regions for line in region.lines]

    def page_regions(self) -> list[PageRegion]:
        """The regions as the PAGE writer takes them."""
        return [
            PageRegion(
                r.id,
                _pts(r.polygon),
                [PageLine(ln.id, ln.text, _pts(ln.polygon), _pts(ln.baseline)) for ln in r.lines],
                r.role,
            )
            for r in self.regions
        ]


def _pts(points: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in points]


# --- paper ---------------------------------------------------------------------------------


def smooth_noise(rng: Rng, height: int, width: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-ish noise varying over ``scale`` px (a small grid, upsampled).

    Cubic up to a quarter of the size, then linear: smooth, and far cheaper than cubic
    all the way on a full page.
    """
    gh, gw = max(2, int(height / scale) + 2), max(2, int(width / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    quarter = (max(gw, width // 4), max(gh, height // 4))
    coarse = cv2.resize(grid, quarter, interpolation=cv2.INTER_CUBIC)
    return np.asarray(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR))


def make_paper(rng: Rng, height: int, width: int, degrade: bool) -> np.ndarray:
    """Paper (H x W x 3 float32): a base colour with slow mottling; stains and a fold at times.

    Built one channel at a time and merged: OpenCV's per-channel maths is several times
    faster than numpy broadcasting over a trailing axis of three.
    """
    base = np.array(PAPERS[int(rng.integers(0, len(PAPERS)))], np.float32)
    base += rng.uniform(-6, 6, size=3).astype(np.float32)
    shade = smooth_noise(rng, height, width, max(height, width) / 6) * np.float32(
        rng.uniform(1, 4.5)
    )
    shade += smooth_noise(rng, height, width, 40) * np.float32(rng.uniform(0.5, 2.5))
    if degrade and rng.random() < 0.25:
        shade -= _fold(rng, height)[:, None]
    stain = _stains(rng, height, width) if degrade and rng.random() < 0.2 else None
    channels = []
    for value, brown in zip(base, (0.35, 0.6, 0.9), strict=True):
        channel = shade + value
        if stain is not None:
            channel -= stain * np.float32(value * brown)
        channels.append(channel)
    return cv2.merge(channels)


def _stains(rng: Rng, height: int, width: int) -> np.ndarray:
    """Irregular brownish blotches: thresholded smooth noise, soft-edged, mostly faint."""
    blotch = smooth_noise(rng, height // 4, width // 4, rng.uniform(10, 30))
    blotch = np.clip(blotch - rng.uniform(1.6, 2.4), 0, 1) * np.float32(rng.uniform(0.08, 0.3))
    blotch = cv2.GaussianBlur(blotch, (0, 0), 1.5)
    return cv2.resize(blotch, (width, height), interpolation=cv2.INTER_LINEAR)


def _fold(rng: Rng, height: int) -> np.ndarray:
    """A crease: how much darker each row is (a narrow dip at a third or half of the sheet)."""
    y = int(height * rng.choice([1 / 3, 1 / 2, 2 / 3]))
    profile = np.exp(-(((np.arange(height) - y) / rng.uniform(2, 6)) ** 2)).astype(np.float32)
    return profile * np.float32(rng.uniform(3, 9))


def draw_rules(
    rng: Rng, paper: np.ndarray, first: float, pitch: float, margin_x: int | None
) -> None:
    """Ruled lines every ``pitch`` px from ``first``; a red margin rule at ``margin_x``."""
    height, width = paper.shape[:2]
    colour = np.array(RULE_COLOURS[int(rng.integers(0, len(RULE_COLOURS)))], np.float32)
    thickness = int(rng.choice([1, 1, 2]))
    strength = np.float32(rng.uniform(0.35, 0.7))
    y = first
    while y < height - 2:
        rows = slice(round(y), min(height, round(y) + thickness))
        paper[rows] = paper[rows] * (1 - strength) + colour * strength
        y += pitch
    if margin_x is not None and 0 <= margin_x < width - thickness:
        cols = slice(margin_x, margin_x + thickness)
        red = np.float32(rng.uniform(0.3, 0.6))
        paper[:, cols] = paper[:, cols] * (1 - red) + np.array((200, 90, 90), np.float32) * red


def ink_density(rng: Rng, height: int, width: int, scale: float, grain: bool) -> np.ndarray:
    """How much of a full stroke's ink lands where: slow pooling and fading, paper grain."""
    density = 1 - np.clip(np.abs(smooth_noise(rng, height, width, scale)) * 0.12, 0, 0.35)
    if grain:
        speckle = np.empty((height, width), np.float32)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randu(speckle, np.array([0.0]), np.array([rng.uniform(0.08, 0.25)]))
        density -= speckle
    return density


# --- layout --------------------------------------------------------------------------------


class Sheet:
    """Places rendered lines top to bottom without overlaps, and paints them on the paper.

    ``sky[x]`` is the lowest polygon edge drawn so far in column ``x``; a new line goes
    down until its upper envelope clears the sky by ``gap``.
    """

    def __init__(self, paper: np.ndarray, top: float, bottom: float, density: np.ndarray):
        self.paper = paper
        self.height, self.width = paper.shape[:2]
        self.sky = np.full(self.width, float(top))
        self.bottom = bottom
        self.density = density
        self.regions: list[SynthRegion] = []
        self.ink = np.zeros((self.height, self.width), np.float32)  # alpha, for show-through

    def new_region(self, role: str, gap: float = 0.0) -> SynthRegion:
        """Start a region below everything drawn so far (region boxes never overlap)."""
        self.sky[:] = self.sky.max() + gap
        region = SynthRegion(id=f"r{len(self.regions) + 1}", role=role)
        self.regions.append(region)
        return region

    def place(
        self,
        line: RenderedLine,
        x: float,
        y: float,
        gap: float,
        snap: Callable[[float], float] | None = None,
    ) -> tuple[int, int] | None:
        """Offsets putting the line's pen start at (x, y) or lower; None when it does not fit."""
        bx, by = line.baseline[0]
        ox = round(min(max(x - bx, 1), self.width - line.width - 1))
        if ox < 0:
            return None
        cols = np.arange(ox, ox + line.width)
        top = np.interp(cols - ox, line.top[:, 0], line.top[:, 1])
        floor = float(np.max(self.sky[cols] + gap - top)) + by  # highest clear baseline
        baseline_y = snap(y) if snap is not None else y
        if baseline_y < floor:
            # snap() allows 2 px of slack upwards; asking for floor + 2 cancels it.
            baseline_y = snap(floor + 2) if snap is not None else floor
        oy = int(np.ceil(baseline_y - by))
        bottom = np.interp(cols - ox, line.bottom[:, 0], line.bottom[:, 1]) + oy
        if oy < 0 or bottom.max() > self.bottom or oy + line.height > self.height:
            return None
        self.sky[cols] = np.maximum(self.sky[cols], bottom)
        return ox, oy

    def paint(self, line: RenderedLine, ink: Ink, ox: int, oy: int) -> None:
        """Lay the line's ink on the paper at the offsets ``place`` returned."""
        h, w = line.mask.shape
        alpha = line.mask * ink.opacity * self.density[oy : oy + h, ox : ox + w]
        patch = self.paper[oy : oy + h, ox : ox + w]
        patch *= 1 - alpha[..., None]
        patch += alpha[..., None] * np.array(ink.color, np.float32)
        np.maximum(
            self.ink[oy : oy + h, ox : ox + w], alpha, out=self.ink[oy : oy + h, ox : ox + w]
        )

    def add(
        self,
        region: SynthRegion,
        rng: Rng,
        hand: Hand,
        text: str,
        x: float,
        y: float,
        gap: float,
        snap: Callable[[float], float] | None = None,
        align_right: float | None = None,
    ) -> float | None:
        """Render, place and paint one line; returns its pen baseline y, None if it did not fit."""
        text = fit_text(hand.face, text)
        if not text:
            return y
        line = render_line(text, hand, rng)
        if align_right is not None:
            x = align_right - (line.width - line.baseline[0][0])
        spot = self.place(line, x, y, gap, snap)
        if spot is None:
            return None
        ox, oy = spot
        self.paint(line, hand.ink, ox, oy)
        shift = np.array([ox, oy], np.float64)
        region.lines.append(
            SynthLine(
                id=f"{region.id}l{len(region.lines) + 1}",
                text=line.text,
                polygon=line.polygon + shift,
                baseline=line.baseline + shift,
                hand=hand.face.family,
            )
        )
        return float(line.baseline[0][1] + oy)


def wrap(hand: Hand, text: str, first_width: float, width: float) -> list[str]:
    """Greedy word wrap by the hand's measured widths (the first line may be indented)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        limit = first_width if not lines else width
        if current and measure(hand, candidate) > limit:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


# --- letters -------------------------------------------------------------------------------


@dataclass
class _Letter:
    """One page's plan: geometry and hands, shared by the block writers below."""

    sheet: Sheet
    hand: Hand
    corpus: Corpus
    rng: Rng
    left: float
    right: float
    pitch: float
    snap: Callable[[float], float] | None
    y: float = 0.0
    full: bool = False

    @property
    def gap(self) -> float:
        return 0.12 * self.hand.x_height

    def write(
        self,
        region: SynthRegion,
        text: str,
        x: float,
        hand: Hand | None = None,
        align_right: float | None = None,
    ) -> bool:
        hand = hand or self.hand
        got = self.sheet.add(
            region, self.rng, hand, text, x, self.y, self.gap, self.snap, align_right
        )
        if got is None:
            self.full = True
            return False
        self.y = got + self.pitch
        return True


def _header(letter: _Letter, width: float) -> None:
    rng = letter.rng
    address = letter.corpus.address(rng) if rng.random() < 0.45 else []
    date = letter.corpus.place_date(rng) if rng.random() < 0.9 else ""
    widest = max([measure(letter.hand, t) for t in [*address, date]])
    block_x = min(letter.left + width * rng.uniform(0.5, 0.62), letter.right - 1.05 * widest)
    if address:
        region = letter.sheet.new_region("address")
        for text in address:
            letter.write(region, text, block_x)
    if date:
        region = letter.sheet.new_region("date")
        right = letter.right if rng.random() < 0.6 else None
        letter.write(region, date, block_x, align_right=right)
    letter.y += letter.pitch * rng.uniform(0.2, 1.2)


def _body(letter: _Letter, width: float, reserve: float, hand: Hand | None = None) -> bool:
    """Paragraphs until the sheet is full; True when it stopped between paragraphs.

    A paragraph that would run into ``reserve`` (room for the closing) is either left out,
    ending the letter, or written to the foot of the sheet, as letters that go on overleaf;
    with no reserve (a letter that goes on) the sheet is always written to its foot.
    """
    rng = letter.rng
    hand = hand or letter.hand
    indent = width * rng.uniform(0.04, 0.14) if rng.random() < 0.7 else 0.0
    para_gap = letter.pitch * (rng.uniform(0.3, 0.9) if rng.random() < 0.5 else 0.0)
    for count in range(12):
        if count >= 2 and rng.random() < 0.08:
            return True
        text = letter.corpus.paragraph(rng, int(rng.integers(2, 7)))
        lines = wrap(hand, text, 0.96 * width - indent, 0.96 * width)
        runs_over = letter.y + (len(lines) - 1) * letter.pitch + reserve > letter.sheet.bottom
        if runs_over and count > 0 and reserve > 0 and rng.random() < 0.5:
            return True
        region = letter.sheet.new_region("paragraph")
        for i, line in enumerate(lines):
            if not letter.write(region, line, letter.left + (indent if i == 0 else 0), hand):
                return False
        if runs_over:
            return False
        letter.y += para_gap
    return True


def _closing(letter: _Letter, width: float) -> None:
    rng = letter.rng
    region = letter.sheet.new_region("closing")
    x = letter.left + width * rng.uniform(0.25, 0.55)
    if not letter.write(region, letter.corpus.closing(rng), x):
        return
    region = letter.sheet.new_region("signature")
    hand = letter.hand
    scale = rng.uniform(1.1, 1.45)
    bigger = replace(
        hand,
        size=int(hand.size * scale),
        x_height=hand.x_height * scale,
        slant=hand.slant + rng.uniform(0, 0.12),
    )
    letter.write(region, letter.corpus.signature(rng), x + width * rng.uniform(0.0, 0.15), bigger)


def _postscript(letter: _Letter, width: float, hand: Hand) -> None:
    rng = letter.rng
    letter.y += letter.pitch * rng.uniform(0.0, 0.8)
    region = letter.sheet.new_region("postscript")
    text = f"{rng.choice(['P.S.', 'PS.', 'P.S'])} {letter.corpus.sentence(rng)}"
    for line in wrap(hand, text, 0.96 * width, 0.96 * width):
        if not letter.write(region, line, letter.left, hand):
            return


def synth_page(
    rng: Rng, faces: Sequence[FontFace], corpus: Corpus, options: SynthOptions = SynthOptions()
) -> SynthPage:
    """One letter page.

    Args:
        rng: The page's generator (the page is a pure function of it and the inputs).
        faces: Hands to choose from.
        corpus: Text to write.
        options: Which effects to apply.
    """
    height = int(rng.integers(options.page_height[0], options.page_height[1] + 1))
    width = int(height / rng.choice([1.414, 1.294, 1.545, 1.33]))
    paper = make_paper(rng, height, width, options.degrade)
    x_height = height * rng.uniform(0.0085, 0.0145)
    hand = sample_hand(rng, faces, x_height)
    ruled = rng.random() < options.ruled
    if ruled:  # on ruled paper the hand follows the rules
        hand = replace(hand, rise=0.0, drift_amp=min(hand.drift_amp, 0.04 * x_height))
    tall, deep = line_extent(hand)
    # Ascenders nearly meet the descenders above; never so tight that lines skip rules.
    needed = tall + deep + 4 * POLY_PAD + 0.12 * x_height + 2 * hand.drift_amp + 6
    pitch = max(x_height * rng.uniform(2.7, 3.8), needed)
    left, right = width * rng.uniform(0.07, 0.16), width * (1 - rng.uniform(0.05, 0.11))
    top, bottom = height * rng.uniform(0.05, 0.11), height * (1 - rng.uniform(0.05, 0.09))
    snap = None
    if ruled:
        first = top + pitch * rng.uniform(0.8, 1.2)
        margin_x = int(left - rng.uniform(6, 20)) if rng.random() < 0.5 else None
        draw_rules(rng, paper, first, pitch, margin_x)
        snap = _snapper(first, pitch, x_height * 0.08)
    density = ink_density(rng, height, width, 60, options.degrade)
    sheet = Sheet(paper, top, bottom, density)
    letter = _Letter(sheet, hand, corpus, rng, left, right, pitch, snap, y=top + pitch)
    text_width = right - left
    second = _second_hand(rng, faces, hand, x_height) if rng.random() < options.two_hands else None
    _header(letter, text_width)
    if rng.random() < 0.9:
        letter.write(
            sheet.new_region("salutation"),
            corpus.salutation(rng),
            left + text_width * rng.uniform(0, 0.05),
        )
    ends = rng.random() < 0.8  # else the letter runs on to another sheet
    clean = _body(letter, text_width, 5 * pitch if ends else 0.0)
    if ends and clean and not letter.full:
        _closing(letter, text_width)
    if (second is not None or rng.random() < 0.15) and not letter.full:
        _postscript(letter, text_width, second or hand)
    sheet.regions = [r for r in sheet.regions if r.lines]
    if options.degrade and rng.random() < 0.15:
        show_through(rng, paper, sheet.ink)
    return _finish(rng, paper, sheet.regions, options)


def show_through(rng: Rng, paper: np.ndarray, ink: np.ndarray) -> None:
    """Writing on the back of thin paper: the ink mirrored, shifted, blurred and faint."""
    shift = int(rng.integers(-ink.shape[0] // 20, ink.shape[0] // 20 + 1))
    ghost = np.roll(ink[:, ::-1], shift, axis=0)
    ghost = cv2.GaussianBlur(ghost, (0, 0), float(rng.uniform(2.5, 5.0)))
    keep = 1 - ghost * np.float32(rng.uniform(0.04, 0.09))
    paper[:] = cv2.multiply(paper, cv2.merge([keep, keep, keep]))


def _snapper(first: float, pitch: float, lift: float) -> Callable[[float], float]:
    """Baselines sit on the next rule at or below the wanted position, a touch above it."""

    def snap(y: float) -> float:
        # 2 px of slack: a placed baseline is rounded down to whole pixels, up to 1 px low.
        k = max(0, int(np.ceil((y + lift - first - 2) / pitch)))
        return first + k * pitch - lift

    return snap


def _second_hand(rng: Rng, faces: Sequence[FontFace], first: Hand, x_height: float) -> Hand:
    others = [f for f in faces if f.family != first.face.family] or list(faces)
    return sample_hand(rng, others, x_height * rng.uniform(0.85, 1.2))


# --- finishing -----------------------------------------------------------------------------


def _finish(
    rng: Rng,
    image: np.ndarray,
    regions: list[SynthRegion],
    options: SynthOptions,
    border: bool = True,
) -> SynthPage:
    """Region outlines, the whole-image rotation with its geometry, then degradations."""
    for region in regions:
        region.polygon = _box([ln.polygon for ln in region.lines], pad=3)
    pixels = cv2.convertScaleAbs(image)  # float -> uint8, saturating
    height, width = pixels.shape[:2]
    angle = float(np.clip(rng.normal(0, options.rotation / 2), -options.rotation, options.rotation))
    if options.rotation > 0 and abs(angle) > 0.01:
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        dark = options.degrade and border and rng.random() < 0.3
        pixels = cv2.warpAffine(
            pixels,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT if dark else cv2.BORDER_REPLICATE,
            borderValue=(40, 40, 40),
        )
        for region in regions:
            region.polygon = rotate_points(matrix, region.polygon)
            for line in region.lines:
                line.polygon = rotate_points(matrix, line.polygon)
                line.baseline = rotate_points(matrix, line.baseline)
    quality = None
    if options.degrade:
        pixels = _degrade(rng, pixels)
        quality = int(rng.integers(options.jpeg_quality[0], options.jpeg_quality[1] + 1))
    return SynthPage(pixels, regions, quality)


def rotate_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _box(polygons: Sequence[np.ndarray], pad: float) -> np.ndarray:
    stacked = np.concatenate(polygons)
    (x0, y0), (x1, y1) = stacked.min(axis=0) - pad, stacked.max(axis=0) + pad
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _degrade(rng: Rng, pixels: np.ndarray) -> np.ndarray:
    """Scanner effects on uint8 pixels: blur, uneven light and sensor noise (luminance only)."""
    height, width = pixels.shape[:2]
    if rng.random() < 0.7:
        pixels = cv2.GaussianBlur(pixels, (0, 0), float(rng.uniform(0.3, 1.1)))
    light = smooth_noise(rng, height, width, max(height, width) / 3) * np.float32(rng.uniform(2, 9))
    noise = np.empty((height, width), np.float32)
    # cv2.randn (4x faster than numpy here) draws from OpenCV's generator: seed it from ours.
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(noise, np.array([rng.uniform(-6, 4)]), np.array([rng.uniform(1, 5)]))
    delta = np.round(light + noise).astype(np.int16)
    return cv2.add(pixels, cv2.merge([delta, delta, delta]), dtype=cv2.CV_8U)


# --- line images ---------------------------------------------------------------------------


def synth_line_image(
    rng: Rng, faces: Sequence[FontFace], corpus: Corpus, options: SynthOptions = SynthOptions()
) -> SynthPage:
    """One text line on its own strip of paper; the page of its PAGE XML is the strip."""
    hand = sample_hand(rng, faces, rng.uniform(*options.line_x_height))
    text = ""
    for _ in range(8):
        text = fit_text(hand.face, corpus.line(rng))
        if text:
            break
    line = render_line(text or "a", hand, rng)
    pad_x, pad_y = int(rng.integers(4, 32)), int(rng.integers(4, 24))
    height, width = line.height + 2 * pad_y, line.width + 2 * pad_x
    paper = make_paper(rng, height, width, options.degrade)
    if rng.random() < options.ruled * 0.7:
        y = float(line.baseline[0][1] + pad_y + 1)
        draw_rules(rng, paper, y, 10 * height, None)
    density = ink_density(rng, height, width, 30, options.degrade)
    sheet = Sheet(paper, 0, height, density)
    region = sheet.new_region("line")
    sheet.paint(line, hand.ink, pad_x, pad_y)
    shift = np.array([pad_x, pad_y], np.float64)
    region.lines.append(
        SynthLine("r1l1", line.text, line.polygon + shift, line.baseline + shift, hand.face.family)
    )
    page = _finish(rng, paper, sheet.regions, options, border=False)
    if page.jpeg_quality is not None:  # line images are PNG: bake the JPEG artefacts in
        page.image = _jpeg_round_trip(page.image, page.jpeg_quality)
        page.jpeg_quality = None
    return page


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


# --- output --------------------------------------------------------------------------------


def item_rng(seed: int, index: int, kind: str) -> Rng:
    """The generator for item ``index``: independent of worker count and order."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, KIND_CODES[kind]]))


def save_item(page: SynthPage, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.jpg`` (or ``.png``) and ``stem.xml`` beside it."""
    suffix = ".jpg" if page.jpeg_quality is not None else ".png"
    image_path, xml_path = folder / f"{stem}{suffix}", folder / f"{stem}.xml"
    picture = Image.fromarray(page.image)
    if page.jpeg_quality is not None:
        picture.save(image_path, format="JPEG", quality=page.jpeg_quality)
    else:
        # Noisy scans barely compress: level 1 is 2-3x faster than 6 for ~8% more bytes.
        picture.save(image_path, format="PNG", compress_level=1)
    height, width = page.image.shape[:2]
    write_page_xml(xml_path, image_path.name, width, height, page.page_regions())
    return image_path, xml_path


@dataclass(frozen=True)
class _Job:
    kind: str
    out: str
    seed: int
    font_dir: str | None
    text_dir: str | None
    options: SynthOptions


_WORKER: dict[str, Any] = {}


def _init_worker(job: _Job) -> None:
    """Load fonts and corpus once per process (never per item)."""
    _WORKER["faces"] = available_faces(Path(job.font_dir) if job.font_dir else None)
    _WORKER["corpus"] = load_corpus(Path(job.text_dir) if job.text_dir else None)
    _WORKER["job"] = job


def _make_item(index: int) -> tuple[int, int, list[str]]:
    job: _Job = _WORKER["job"]
    rng = item_rng(job.seed, index, job.kind)
    make = synth_page if job.kind == "pages" else synth_line_image
    page = make(rng, _WORKER["faces"], _WORKER["corpus"], job.options)
    stem = f"{'page' if job.kind == 'pages' else 'line'}_{index:06d}"
    save_item(page, Path(job.out), stem)
    return index, len(page.lines), sorted({line.hand for line in page.lines})


@dataclass
class GenerateSummary:
    """What ``generate`` wrote and how fast."""

    items: int
    lines: int
    seconds: float
    manifest: Path

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def generate(
    kind: str,
    out: Path,
    count: int,
    seed: int = 0,
    workers: int = 2,
    font_dir: Path | None = None,
    text_dir: Path | None = None,
    options: SynthOptions = SynthOptions(),
    progress: bool = True,
) -> GenerateSummary:
    """Write ``count`` pages or line images with their PAGE XML and a ``manifest.json``.

    Args:
        kind: ``pages`` or ``lines``.
        out: Output folder (created).
        count: Items to write, numbered from 0.
        seed: The same seed, fonts and corpus give byte-identical files.
        workers: Processes; 1 runs in this process.
        font_dir: Font cache (default ``QUIRE_FONT_CACHE`` / ``.quire/fonts``; system fonts
            when it is empty).
        text_dir: Text cache (default ``QUIRE_TEXT_CACHE`` / ``.quire/texts``).
        options: Effects to apply.
        progress: Show a tqdm bar.
    """
    from tqdm import tqdm

    if kind not in KIND_CODES:
        raise ValueError(f"kind must be one of {sorted(KIND_CODES)}, not {kind!r}")
    out.mkdir(parents=True, exist_ok=True)
    job = _Job(
        kind,
        str(out),
        seed,
        str(font_dir) if font_dir else None,
        str(text_dir) if text_dir else None,
        options,
    )
    started = time.perf_counter()
    results: list[tuple[int, int, list[str]]] = []
    bar = tqdm(total=count, unit=kind[:-1], disable=not progress)
    if workers <= 1 or count <= 1:
        _init_worker(job)
        for index in range(count):
            results.append(_make_item(index))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn" if _threads_started() else "fork")
        with context.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
            for result in pool.imap_unordered(_make_item, range(count), chunksize=1):
                results.append(result)
                bar.update()
    bar.close()
    seconds = time.perf_counter() - started
    manifest = _write_manifest(job, count, results)
    return GenerateSummary(count, sum(r[1] for r in results), seconds, manifest)


def _threads_started() -> bool:
    import threading

    return threading.active_count() > 1


def _write_manifest(job: _Job, count: int, results: list[tuple[int, int, list[str]]]) -> Path:
    """What was made from what, under which licences; no timings, so it is reproducible."""
    faces = available_faces(Path(job.font_dir) if job.font_dir else None)
    corpus = load_corpus(Path(job.text_dir) if job.text_dir else None)
    used = sorted({family for _, _, families in results for family in families})
    manifest = {
        "generator": "quire synth",
        "kind": job.kind,
        "seed": job.seed,
        "count": count,
        "lines": sum(r[1] for r in results),
        "options": asdict(job.options),
        "fonts": [
            {"family": f.family, "license": f.license, "source": f.source}
            for f in faces
            if f.family in used
        ],
        "texts": [asdict(s) for s in corpus.sources]
        + [
            {
                "name": "built-in letter phrases",
                "package": "quire",
                "version": "",
                "license": "Apache-2.0",
                "path": "training/synth/corpus.py",
            }
        ],
    }
    path = Path(job.out) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
