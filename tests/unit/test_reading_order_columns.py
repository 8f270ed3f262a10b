"""Column-aware reading order: columns left to right, never interleaved."""

from __future__ import annotations

import pytest

from worker.reading_order import reading_order

H = 20  # line height


def column(x0: int, x1: int, top: int, lines: int, pitch: int = 30) -> list[tuple]:
    return [(x0, top + k * pitch, x1, top + k * pitch + H) for k in range(lines)]


CASES = [
    pytest.param(
        column(0, 400, 0, 3) + column(430, 830, 12, 3),  # baselines offset by 12 px
        [0, 1, 2, 3, 4, 5],
        id="two-columns-offset",
    ),
    pytest.param(
        column(430, 830, 0, 3) + column(0, 400, 0, 3),  # same baselines, right given first
        [3, 4, 5, 0, 1, 2],
        id="two-columns-aligned",
    ),
    pytest.param(
        [(100, 0, 700, H), *column(0, 400, 40, 2), *column(430, 830, 40, 2), (0, 200, 830, 220)],
        [0, 1, 2, 3, 4, 5],
        id="title-columns-footer",
    ),
    pytest.param(
        column(0, 830, 0, 2) + column(430, 830, 80, 3) + column(0, 400, 80, 3),
        [0, 1, 5, 6, 7, 2, 3, 4],
        id="intro-then-two-columns",
    ),
    pytest.param(
        column(0, 250, 0, 2) + column(280, 530, 0, 2) + column(560, 810, 0, 2),
        [0, 1, 2, 3, 4, 5],
        id="three-columns",
    ),
    pytest.param(
        [
            (0, 0, 60, H),
            (100, 0, 160, H),
            (200, 0, 260, H),
            (0, 30, 60, 30 + H),
            (100, 30, 160, 30 + H),
            (200, 30, 260, 30 + H),
        ],
        [0, 1, 2, 3, 4, 5],
        id="table-cells-read-by-row",
    ),
    pytest.param(
        [(0, 0, 300, H), (310, 0, 600, H)],  # one row: left to right
        [0, 1],
        id="one-row-two-boxes",
    ),
]


@pytest.mark.parametrize(("boxes", "expected"), CASES)
def test_columns_are_not_interleaved(boxes: list[tuple], expected: list[int]) -> None:
    assert reading_order(boxes) == expected


def test_every_box_appears_once_in_a_messy_layout() -> None:
    boxes = column(0, 400, 0, 5) + column(430, 830, 7, 4) + [(0, 300, 830, 320)]
    order = reading_order(boxes)
    assert sorted(order) == list(range(len(boxes)))
    assert order[-1] == len(boxes) - 1  # the full-width line below both columns comes last
