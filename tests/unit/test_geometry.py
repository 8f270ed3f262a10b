from __future__ import annotations

import numpy as np
import pytest

from worker.geometry import bbox_of, crop_quad


def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """An axis-aligned quad, clockwise from the top-left corner."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def gradient(height: int, width: int) -> np.ndarray:
    """A smooth RGB test image: each channel a different linear ramp."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs * 2, ys * 2, (xs + ys)], axis=-1)
    assert image.max() < 256
    return image.astype(np.uint8)


@pytest.mark.parametrize(
    ("points", "width", "height", "expected"),
    [
        pytest.param(quad(10, 20, 50, 40), 100, 100, (10, 20, 50, 40), id="integer"),
        pytest.param(
            np.array([[1.2, 2.7], [10.5, 2.1], [10.9, 8.01], [1.0, 8.5]]),
            100,
            100,
            (1, 2, 11, 9),
            id="float-floor-ceil",
        ),
        pytest.param(quad(-5.5, -3, 20, 10), 100, 100, (0, 0, 20, 10), id="clip-negative"),
        pytest.param(quad(90, 80, 130.2, 120), 100, 100, (90, 80, 100, 100), id="clip-far"),
        pytest.param(quad(-10, -10, 500, 500), 64, 48, (0, 0, 64, 48), id="whole-page"),
        pytest.param(
            np.array([[50, 10], [90, 50], [50, 90], [10, 50]], dtype=np.float32),
            100,
            100,
            (10, 10, 90, 90),
            id="diamond",
        ),
        pytest.param(quad(150, 150, 200, 200), 100, 100, (100, 100, 100, 100), id="off-page"),
    ],
)
def test_bbox_of(
    points: np.ndarray, width: int, height: int, expected: tuple[int, int, int, int]
) -> None:
    box = bbox_of(points, width, height)
    assert box == expected
    assert all(type(v) is int for v in box)


@pytest.mark.parametrize(
    ("x0", "y0", "x1", "y1"),
    [(10, 5, 40, 25), (0, 0, 80, 20), (33, 40, 79, 59), (5, 5, 6, 6)],
)
def test_crop_quad_axis_aligned_gives_the_sub_image(x0: int, y0: int, x1: int, y1: int) -> None:
    image = gradient(60, 80)
    crop = crop_quad(image, quad(x0, y0, x1, y1))
    expected = image[y0:y1, x0:x1]
    assert crop.dtype == np.uint8
    assert crop.ndim == 3 and crop.shape[2] == 3
    assert abs(crop.shape[0] - expected.shape[0]) <= 1
    assert abs(crop.shape[1] - expected.shape[1]) <= 1
    h, w = min(crop.shape[0], expected.shape[0]), min(crop.shape[1], expected.shape[1])
    diff = np.abs(crop[:h, :w].astype(int) - expected[:h, :w].astype(int))
    assert diff.max() <= 3
    assert crop.flags.c_contiguous


def test_crop_quad_axis_aligned_is_exact_on_noise() -> None:
    image = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    crop = crop_quad(image, quad(12, 7, 52, 27))
    np.testing.assert_array_equal(crop, image[7:27, 12:52])


@pytest.mark.parametrize(
    "points",
    [
        pytest.param(np.array([[10, 10]] * 4, dtype=np.float64), id="point"),
        pytest.param(quad(10, 10, 40, 10), id="zero-height"),
        pytest.param(quad(10, 10, 10, 40), id="zero-width"),
        pytest.param(quad(10, 10, 10.4, 10.4), id="sub-pixel"),
    ],
)
def test_crop_quad_degenerate_is_empty(points: np.ndarray) -> None:
    crop = crop_quad(gradient(60, 80), points)
    assert crop.size == 0
    assert crop.shape == (0, 0, 3)
    assert crop.dtype == np.uint8


def test_crop_quad_tall_is_rotated_to_be_wide() -> None:
    image = np.random.default_rng(2).integers(0, 256, (80, 60, 3), dtype=np.uint8)
    crop = crop_quad(image, quad(20, 10, 30, 40))  # 10 wide, 30 high
    assert crop.shape == (10, 30, 3)
    assert crop.shape[1] > crop.shape[0]
    np.testing.assert_array_equal(crop, np.rot90(image[10:40, 20:30]))
    assert crop.flags.c_contiguous


@pytest.mark.parametrize(
    ("width", "height", "rotated"),
    [(20, 30, True), (20, 29, False), (20, 20, False), (10, 100, True)],
)
def test_crop_quad_rotation_threshold(width: int, height: int, rotated: bool) -> None:
    image = gradient(120, 60)
    crop = crop_quad(image, quad(5, 5, 5 + width, 5 + height))
    expected_shape = (width, height, 3) if rotated else (height, width, 3)
    assert crop.shape == expected_shape


def test_crop_quad_rotated_rectangle_is_straightened() -> None:
    # A 40 x 10 rectangle rotated by 30 degrees around (50, 50).
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-20, -5], [20, -5], [20, 5], [-20, 5]]) @ rot.T + 50
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    crop = crop_quad(image, corners)
    assert abs(crop.shape[0] - 10) <= 1
    assert abs(crop.shape[1] - 40) <= 1
