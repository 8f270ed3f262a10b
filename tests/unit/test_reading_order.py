from __future__ import annotations

import pytest

from worker.reading_order import Box, group_rows, reading_order, vertical_overlap


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (20, 0, 30, 10), 1.0),  # same band
        ((0, 0, 10, 10), (0, 20, 10, 30), 0.0),  # disjoint
        ((0, 0, 10, 10), (0, 10, 10, 20), 0.0),  # touching edges share no height
        ((0, 0, 10, 10), (0, 5, 10, 15), 0.5),  # half overlap
        ((0, 0, 10, 10), (0, 4, 10, 14), 0.6),
        ((0, 0, 10, 40), (0, 10, 10, 20), 1.0),  # small box inside a tall one
        ((0, 0, 10, 20), (0, 15, 10, 25), 0.5),  # measured over the smaller height
        ((0, 5, 10, 5), (0, 0, 10, 10), 0.0),  # zero-height box
        ((0, 5, 10, 5), (0, 5, 10, 5), 0.0),
    ],
)
def test_vertical_overlap(a: Box, b: Box, expected: float) -> None:
    assert vertical_overlap(a, b) == pytest.approx(expected)
    assert vertical_overlap(b, a) == pytest.approx(expected)


def test_group_rows_orders_rows_top_to_bottom() -> None:
    boxes = [(0, 50, 40, 60), (0, 0, 40, 10), (50, 1, 90, 11), (0, 25, 40, 35)]
    assert group_rows(boxes) == [[1, 2], [3], [0]]


def test_group_rows_empty() -> None:
    assert group_rows([]) == []


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([(10, 10, 200, 30)], [0], id="single-line"),
        pytest.param([(0, 40, 100, 60), (0, 0, 100, 20)], [1, 0], id="two-rows-out-of-order"),
        pytest.param([(120, 0, 200, 20), (0, 0, 100, 20)], [1, 0], id="one-row-right-to-left"),
        pytest.param(
            # Each box sits 4 px lower than its left neighbour: 60% overlap, one row.
            [(120, 8, 170, 18), (0, 0, 50, 10), (60, 4, 110, 14)],
            [1, 2, 0],
            id="skewed-row",
        ),
        pytest.param(
            [
                (60, 34, 110, 44),
                (120, 38, 170, 48),
                (60, 4, 110, 14),
                (0, 30, 50, 40),
                (120, 8, 170, 18),
                (0, 0, 50, 10),
            ],
            [5, 2, 4, 3, 0, 1],
            id="two-skewed-rows-shuffled",
        ),
        pytest.param(
            # Exactly 50% overlap is enough for one row: left to right although the left
            # box sits lower.
            [(0, 5, 50, 15), (60, 0, 110, 10)],
            [0, 1],
            id="overlap-at-threshold",
        ),
        pytest.param(
            # 40% overlap is below the same-row threshold: two rows, the higher one first,
            # even though it is further right.
            [(0, 6, 50, 16), (60, 0, 110, 10)],
            [1, 0],
            id="overlap-below-threshold",
        ),
        pytest.param(
            [(0, 0, 40, 10), (50, 0, 90, 10), (100, 0, 140, 10), (0, 20, 40, 30), (50, 20, 90, 30)],
            [0, 1, 2, 3, 4],
            id="already-in-order",
        ),
    ],
)
def test_reading_order(boxes: list[Box], expected: list[int]) -> None:
    assert reading_order(boxes) == expected


def test_reading_order_single_zero_height_box() -> None:
    assert reading_order([(5, 7, 40, 7)]) == [0]


def test_reading_order_zero_height_box_does_not_break_other_rows() -> None:
    boxes = [(0, 40, 50, 50), (0, 0, 50, 10), (60, 20, 100, 20), (60, 1, 110, 11)]
    order = reading_order(boxes)
    assert sorted(order) == [0, 1, 2, 3]  # a permutation: nothing dropped or duplicated
    # The regular rows keep their order: top row left to right, bottom row last.
    assert order.index(1) < order.index(3) < order.index(0)
    # The flat box at y=20 lies between the two rows.
    assert order.index(3) < order.index(2) < order.index(0)


def test_reading_order_accepts_tuples_of_any_sequence_type() -> None:
    boxes = ((100, 0, 150, 10), (0, 0, 50, 10))
    assert reading_order(boxes) == [1, 0]
