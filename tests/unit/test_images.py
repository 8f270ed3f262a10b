from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shared.errors import CorruptImage, ImageTooLarge, UnsupportedDocument
from worker.images import decode_page

MAX_PIXELS = 100_000_000


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def noise(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_decode_rgb_png() -> None:
    pixels = noise(30, 50, 3)
    page = decode_page(encode(Image.fromarray(pixels, "RGB")), MAX_PIXELS)
    assert page.dtype == np.uint8
    assert page.shape == (30, 50, 3)
    np.testing.assert_array_equal(page, pixels)


def test_decode_rgba_png_drops_alpha() -> None:
    pixels = noise(12, 20, 4)
    page = decode_page(encode(Image.fromarray(pixels, "RGBA")), MAX_PIXELS)
    assert page.dtype == np.uint8
    assert page.shape == (12, 20, 3)
    np.testing.assert_array_equal(page, pixels[:, :, :3])


def test_decode_grayscale_png_repeats_the_channel() -> None:
    pixels = noise(9, 14, 1)
    page = decode_page(encode(Image.fromarray(pixels, "L")), MAX_PIXELS)
    assert page.dtype == np.uint8
    assert page.shape == (9, 14, 3)
    for channel in range(3):
        np.testing.assert_array_equal(page[:, :, channel], pixels)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "GIF", "JPEG", "WEBP"])
def test_decode_other_formats_shape(fmt: str) -> None:
    image = Image.new("RGB", (21, 13), color=(200, 100, 50))
    page = decode_page(encode(image, fmt), MAX_PIXELS)
    assert page.shape == (13, 21, 3)
    assert page.dtype == np.uint8


@pytest.mark.parametrize(
    ("orientation", "shape"), [(1, (2, 4, 3)), (6, (4, 2, 3)), (8, (4, 2, 3)), (3, (2, 4, 3))]
)
def test_decode_applies_exif_orientation(orientation: int, shape: tuple[int, ...]) -> None:
    image = Image.fromarray(noise(2, 4, 3, seed=5), "RGB")  # 4 wide, 2 high
    exif = Image.Exif()
    exif[0x0112] = orientation
    page = decode_page(encode(image, "PNG", exif=exif), MAX_PIXELS)
    assert page.shape == shape


def test_decode_truncated_pixel_data_is_corrupt() -> None:
    data = encode(Image.fromarray(noise(200, 300, 3), "RGB"))
    with pytest.raises(CorruptImage, match="cannot be decoded"):
        decode_page(data[: len(data) // 2], MAX_PIXELS)


def test_decode_garbage_is_corrupt() -> None:
    with pytest.raises(CorruptImage):
        decode_page(b"\x00\x01garbage" * 20, MAX_PIXELS)


def test_decode_multi_frame_tiff_is_unsupported() -> None:
    frames = [Image.new("RGB", (8, 8), color=(i * 50, 0, 0)) for i in range(3)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedDocument, match="3 frames") as info:
        decode_page(data, MAX_PIXELS)
    assert info.value.code == "multipage_not_supported"


def test_decode_single_frame_tiff_is_fine() -> None:
    data = encode(Image.new("RGB", (8, 6), color=(1, 2, 3)), "TIFF")
    page = decode_page(data, MAX_PIXELS)
    assert page.shape == (6, 8, 3)
    assert page[0, 0].tolist() == [1, 2, 3]


def test_decode_too_many_pixels() -> None:
    data = encode(Image.new("L", (1100, 1000)))
    with pytest.raises(ImageTooLarge):
        decode_page(data, 1_000_000)


@pytest.mark.parametrize("mode", ["1", "P", "LA", "CMYK"])
def test_decode_other_modes_give_rgb(mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "1" else "PNG")
    page = decode_page(encode(Image.new(mode, (6, 4)), fmt), MAX_PIXELS)
    assert page.shape == (4, 6, 3)
    assert page.dtype == np.uint8


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_decode_16_bit_grayscale_is_scaled_not_clipped(fmt: str) -> None:
    values = np.array([[0, 5_000, 30_000, 65_535]], dtype=np.uint16).repeat(3, axis=0)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    page = decode_page(encode(image, fmt), MAX_PIXELS)
    assert page.shape == (3, 4, 3)
    expected = np.round(values / 257).astype(int)  # 0, 19, 117, 255
    assert np.abs(page[:, :, 0].astype(int) - expected).max() <= 1
