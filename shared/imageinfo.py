"""Cheap checks of an image's header: size and frame count, without decoding pixels."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, UnidentifiedImageError

from shared.errors import CorruptImage, ImageTooLarge


@dataclass(frozen=True)
class ImageInfo:
    """What the header says."""

    format: str
    width: int
    height: int
    frames: int


def configure_pillow(max_pixels: int) -> None:
    """Set Pillow's decompression-bomb limit deliberately, once per process.

    Pillow warns above this and refuses above twice this; quire refuses above it
    (``inspect_image``), so the warning becomes an error too.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def inspect_image(stream: IO[bytes], max_pixels: int) -> ImageInfo:
    """Read the header of an image; refuse what cannot be opened or is too large.

    Raises:
        CorruptImage: Pillow cannot identify or parse the header.
        ImageTooLarge: width x height exceeds ``max_pixels`` (decompression bomb).
    """
    try:
        with Image.open(stream) as image:
            width, height = image.size
            frames = int(getattr(image, "n_frames", 1))
            fmt = image.format or "unknown"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(str(e), max_pixels=max_pixels) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptImage(f"cannot read the image header: {e}") from e
    if width <= 0 or height <= 0:
        raise CorruptImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            max_pixels=max_pixels,
        )
    return ImageInfo(fmt, width, height, frames)
