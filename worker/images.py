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
            return np.asarray(upright.convert("RGB"))
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e)) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptImage(f"the image cannot be decoded: {e}") from e
