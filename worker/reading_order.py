"""Reading order of line boxes: rows top to bottom, left to right within a row."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[int, int, int, int]
SAME_ROW_OVERLAP = 0.5


def vertical_overlap(a: Box, b: Box) -> float:
    """Shared height of two boxes over the smaller height (0 when disjoint)."""
    shared = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min(a[3] - a[1], b[3] - b[1])
    return max(shared, 0) / smaller if smaller > 0 else 0.0


def group_rows(boxes: Sequence[Box]) -> list[list[int]]:
    """Indices of boxes grouped into rows, rows sorted top to bottom."""
    rows: list[list[int]] = []
    for i in sorted(range(len(boxes)), key=lambda k: (boxes[k][1] + boxes[k][3], boxes[k][0])):
        row = rows[-1] if rows else None
        if row is not None and vertical_overlap(boxes[row[-1]], boxes[i]) >= SAME_ROW_OVERLAP:
            row.append(i)
        else:
            rows.append([i])
    return rows


def reading_order(boxes: Sequence[Box]) -> list[int]:
    """Indices of ``boxes`` in reading order."""
    return [i for row in group_rows(boxes) for i in sorted(row, key=lambda k: boxes[k][0])]
