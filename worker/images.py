"""Decode a stored page image into pixels, refusing corrupt or oversized ones."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from shared.errors import CorruptImage, ImageTooLarge, UnsupportedDocument
from shared.imageinfo import inspect_image


def decode_page(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB pixels of a single-page image, upright per its EXIF orientation.

    Raises:
        CorruptImage: the data is truncated or not decodable.
        ImageTooLarge: the image has more than ``max_pixels`` pixels.
        UnsupportedDocument: the image has several frames.
    """
    info = inspect_image(io.BytesIO(data), max_pixels)
    if info.frames > 1:
        raise UnsupportedDocument(f"the image has {info.frames} frames")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            return to_rgb(upright)
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e)) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptImage(f"the image cannot be decoded: {e}") from e


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def to_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB pixels; 16-bit and float scans are scaled down, not clipped to white."""
    if image.mode not in HIGH_DEPTH_MODES:
        return np.asarray(image.convert("RGB"))
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = max(float(values.max()), 1.0)
    else:
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
    gray = np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
