"""Reading order of line boxes: columns left to right, each read top to bottom.

A recursive XY-cut over the boxes' projections. A block is first cut at vertical gutters
(x ranges no box covers) into columns; a block without a gutter is cut at horizontal gaps into
bands, and neighbouring bands whose gutters line up are joined again, so a two-column section
whose lines happen to share baselines is still read column by column. A block that cannot be
cut is read row by row, left to right within a row. Full-width lines (titles, a one-column
introduction) cover the gutter and so stay in order between the column sections.

A gutter must be at least ``GUTTER_FRACTION`` of the median line height wide (narrower gaps
are spaces between words), and the columns it makes must hold text lines, boxes at least
``MIN_COLUMN_ASPECT`` times as wide as high: short boxes side by side (table cells, single
words) are read row by row, as a table would be.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

Box = tuple[int, int, int, int]
SAME_ROW_OVERLAP = 0.5
GUTTER_FRACTION = 0.3
MIN_COLUMN_ASPECT = 6.0


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


def projection_gaps(intervals: Sequence[tuple[int, int]], min_gap: float) -> list[tuple[int, int]]:
    """Gaps of at least ``min_gap`` between the merged intervals, inside their span."""
    gaps, end = [], None
    for start, stop in sorted(intervals):
        if end is not None and start - end >= min_gap:
            gaps.append((end, start))
        end = stop if end is None else max(end, stop)
    return gaps


def split_at_gaps(
    indices: list[int], spans: dict[int, tuple[int, int]], gaps: list[tuple[int, int]]
) -> list[list[int]]:
    """Indices grouped by the gaps they fall between, in gap order."""
    parts: list[list[int]] = [[] for _ in range(len(gaps) + 1)]
    for i in indices:
        parts[sum(1 for gap in gaps if spans[i][0] >= gap[1])].append(i)
    return [part for part in parts if part]


def _columns(boxes: Sequence[Box], indices: list[int], min_gap: float) -> list[list[int]]:
    """The block cut at its gutters, or one part when it has no text columns."""
    gaps = projection_gaps([(boxes[i][0], boxes[i][2]) for i in indices], min_gap)
    if not gaps:
        return [indices]
    spans = {i: (boxes[i][0], boxes[i][2]) for i in indices}
    parts = split_at_gaps(indices, spans, gaps)
    return parts if all(_holds_lines(boxes, part) for part in parts) else [indices]


def _holds_lines(boxes: Sequence[Box], indices: list[int]) -> bool:
    aspects = [(boxes[i][2] - boxes[i][0]) / max(boxes[i][3] - boxes[i][1], 1) for i in indices]
    return statistics.median(aspects) >= MIN_COLUMN_ASPECT


def _gutters(boxes: Sequence[Box], indices: list[int], min_gap: float) -> list[tuple[int, int]]:
    if len(_columns(boxes, indices, min_gap)) == 1:
        return []
    return projection_gaps([(boxes[i][0], boxes[i][2]) for i in indices], min_gap)


def _bands(boxes: Sequence[Box], indices: list[int], min_gap: float) -> list[list[int]]:
    spans = {i: (boxes[i][1], boxes[i][3]) for i in indices}
    bands = split_at_gaps(indices, spans, projection_gaps(list(spans.values()), 1))
    blocks: list[list[int]] = []
    previous: list[tuple[int, int]] = []
    for band in bands:
        gutters = _gutters(boxes, band, min_gap)
        if blocks and _line_up(previous, gutters):
            blocks[-1].extend(band)
        else:
            blocks.append(list(band))
        previous = gutters
    return blocks


def _line_up(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(min(x[1], y[1]) > max(x[0], y[0]) for x in a for y in b)


def _read_rows(boxes: Sequence[Box], indices: list[int]) -> list[int]:
    subset = [boxes[i] for i in indices]
    return [
        indices[k] for row in group_rows(subset) for k in sorted(row, key=lambda k: subset[k][0])
    ]


def _order(boxes: Sequence[Box], indices: list[int], min_gap: float) -> list[int]:
    if len(indices) <= 1:
        return indices
    columns = _columns(boxes, indices, min_gap)
    if len(columns) > 1:
        return [i for column in columns for i in _order(boxes, column, min_gap)]
    blocks = _bands(boxes, indices, min_gap)
    if len(blocks) == 1:
        return _read_rows(boxes, indices)
    return [i for block in blocks for i in _order(boxes, block, min_gap)]


def reading_order(boxes: Sequence[Box]) -> list[int]:
    """Indices of ``boxes`` in reading order."""
    if not boxes:
        return []
    heights = [max(b[3] - b[1], 1) for b in boxes]
    min_gap = max(GUTTER_FRACTION * statistics.median(heights), 1.0)
    return _order(boxes, list(range(len(boxes))), min_gap)
