from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import pytest
from PIL import Image

from shared.errors import CorruptImage, ImageTooLarge
from shared.imageinfo import ImageInfo, configure_pillow, inspect_image

LIMIT = 1_000_000
DEFAULT_LIMIT = 100_000_000


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def multi_frame_tiff(frames: int = 3) -> bytes:
    pages = [Image.new("L", (16, 12), color=40 * i) for i in range(frames)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


@pytest.fixture
def pillow_limit() -> Iterator[int]:
    """Pillow's global bomb limit set like a quire process sets it, restored afterwards."""
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        configure_pillow(LIMIT)
        yield LIMIT
    Image.MAX_IMAGE_PIXELS = saved


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return encode(Image.new("L", (2000, 2000)), "PNG")  # 4 Mpx: more than twice LIMIT


@pytest.fixture(scope="module")
def medium_png() -> bytes:
    return encode(Image.new("L", (1200, 1000)), "PNG")  # 1.2 Mpx: between LIMIT and 2x


@pytest.mark.parametrize(
    ("fmt", "mode", "size", "expected_format"),
    [
        ("PNG", "RGB", (7, 5), "PNG"),
        ("PNG", "RGBA", (1, 1), "PNG"),
        ("JPEG", "RGB", (33, 17), "JPEG"),
        ("GIF", "P", (12, 9), "GIF"),
        ("BMP", "RGB", (3, 40), "BMP"),
        ("TIFF", "L", (64, 48), "TIFF"),
        ("WEBP", "RGB", (20, 10), "WEBP"),
    ],
)
def test_inspect_single_frame(
    fmt: str, mode: str, size: tuple[int, int], expected_format: str
) -> None:
    data = encode(Image.new(mode, size), fmt)
    info = inspect_image(io.BytesIO(data), DEFAULT_LIMIT)
    assert info == ImageInfo(expected_format, size[0], size[1], 1)


def test_inspect_multi_frame_tiff() -> None:
    info = inspect_image(io.BytesIO(multi_frame_tiff(3)), DEFAULT_LIMIT)
    assert info == ImageInfo("TIFF", 16, 12, 3)


def test_inspect_does_not_close_or_require_a_named_file() -> None:
    stream = io.BytesIO(encode(Image.new("RGB", (4, 3)), "PNG"))
    assert inspect_image(stream, DEFAULT_LIMIT).width == 4
    assert not stream.closed  # the caller still owns the stream (and may rewind it)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is not an image at all" * 10, id="text"),
        pytest.param(bytes(range(256)) * 4, id="garbage"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, id="png-signature-only"),
    ],
)
def test_inspect_garbage_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptImage, match="cannot read the image header"):
        inspect_image(io.BytesIO(data), DEFAULT_LIMIT)


@pytest.mark.parametrize("cut", [8, 20, 30])
def test_inspect_truncated_png_header_is_corrupt(cut: int) -> None:
    data = encode(Image.new("RGB", (10, 10)), "PNG")
    with pytest.raises(CorruptImage) as info:
        inspect_image(io.BytesIO(data[:cut]), DEFAULT_LIMIT)
    assert info.value.code == "corrupt_image"


def test_too_many_pixels_refused_by_pillow_bomb_error(pillow_limit: int, big_png: bytes) -> None:
    assert pillow_limit == Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLarge) as info:
        inspect_image(io.BytesIO(big_png), pillow_limit)
    assert info.value.extra == {"max_pixels": pillow_limit}
    assert info.value.to_problem()["max_pixels"] == pillow_limit


def test_too_many_pixels_refused_by_pillow_bomb_warning(
    pillow_limit: int, medium_png: bytes
) -> None:
    # Pillow only warns between the limit and twice the limit; configure_pillow makes
    # that warning an error, which quire turns into ImageTooLarge.
    with pytest.raises(ImageTooLarge):
        inspect_image(io.BytesIO(medium_png), pillow_limit)


@pytest.mark.parametrize("png", ["big_png", "medium_png"])
def test_too_many_pixels_refused_without_pillow_limit(
    png: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pillow's own limit is far above; inspect_image checks width x height itself.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", DEFAULT_LIMIT)
    data: bytes = request.getfixturevalue(png)
    with pytest.raises(ImageTooLarge, match=r"the limit is 1000000") as info:
        inspect_image(io.BytesIO(data), LIMIT)
    assert info.value.extra["max_pixels"] == LIMIT


def test_exactly_max_pixels_is_accepted(pillow_limit: int) -> None:
    data = encode(Image.new("L", (1000, 1000)), "PNG")
    info = inspect_image(io.BytesIO(data), pillow_limit)
    assert (info.width, info.height) == (1000, 1000)


def test_one_pixel_over_the_limit_is_refused() -> None:
    data = encode(Image.new("L", (1001, 1000)), "PNG")
    with pytest.raises(ImageTooLarge):
        inspect_image(io.BytesIO(data), LIMIT)


def test_configure_pillow_sets_global_limit_and_fixture_restores_it() -> None:
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        configure_pillow(2_000_000)
        assert Image.MAX_IMAGE_PIXELS == 2_000_000
        with pytest.raises(Image.DecompressionBombWarning):
            warnings.warn("bomb", Image.DecompressionBombWarning, stacklevel=1)
    Image.MAX_IMAGE_PIXELS = saved
    assert saved == Image.MAX_IMAGE_PIXELS
