"""Helpers shared by the benchmarks: synthetic printed pages and line crops, machine facts."""

from __future__ import annotations

import os
import platform
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WORDS = (
    "ledger",
    "parish",
    "record",
    "the",
    "of",
    "and",
    "letter",
    "archive",
    "folio",
    "received",
    "March",
    "1887",
    "copy",
    "deed",
    "estate",
    "witness",
    "signed",
    "page",
)


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def line_crop(text: str, height: int = 48) -> np.ndarray:
    """One printed text line as an RGB crop, about as a detector would cut it."""
    font = ImageFont.truetype(str(FONT), int(height * 0.6))
    width = int(font.getlength(text)) + 20
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((10, height * 0.15), text, fill="black", font=font)
    return np.asarray(image)


def printed_page(lines: int, seed: int, width: int = 1400) -> np.ndarray:
    """A white page with ``lines`` printed lines of varying length."""
    rng = random.Random(seed)
    font = ImageFont.truetype(str(FONT), 30)
    image = Image.new("RGB", (width, 80 + lines * 56), "white")
    draw = ImageDraw.Draw(image)
    for i in range(lines):
        draw.text((60, 40 + i * 56), sentence(rng, rng.randint(4, 9)), fill="black", font=font)
    return np.asarray(image)


def machine() -> str:
    """A one-line description of where a benchmark ran."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{device}, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
