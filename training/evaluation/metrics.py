"""The maths of evaluation: edit distance, box IoU, one-to-one line matching, bags of words.

Pure functions over plain values; the text they get is already normalised by the caller.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive, as page pixels


@dataclass(frozen=True)
class Ratio:
    """``part / whole`` kept as counts, so pooling adds counts and never averages rates."""

    part: int = 0
    whole: int = 0

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.part + other.part, self.whole + other.whole)

    @property
    def value(self) -> float | None:
        """The ratio, or None where there is nothing to divide by."""
        return self.part / self.whole if self.whole else None


def edit_distance(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> int:
    """Levenshtein distance: insertions, deletions and substitutions, each costing 1.

    Args:
        reference: The true sequence (a string for characters, a list for words).
        hypothesis: The recognised sequence.

    Returns:
        The fewest edits turning one sequence into the other.
    """
    start, end = _common_ends(reference, hypothesis)
    ref, hyp = reference[start : len(reference) - end], hypothesis[start : len(hypothesis) - end]
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref  # the distance is symmetric; the shorter one makes the DP row
    previous = list(range(len(hyp) + 1))
    for i, ref_item in enumerate(ref, start=1):
        current = [i]
        for j, hyp_item in enumerate(hyp, start=1):
            substitution = previous[j - 1] + (ref_item != hyp_item)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def _common_ends(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[int, int]:
    """Lengths of the common prefix and of the common suffix after it (they cost no edit)."""
    shortest = min(len(a), len(b))
    start = 0
    while start < shortest and a[start] == b[start]:
        start += 1
    end = 0
    while end < shortest - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    return start, end


def words(text: str) -> list[str]:
    """The word tokens of a normalised text: its runs of non-space characters."""
    return text.split()


def bag_overlap(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """How many words the two share as multisets, whatever their order.

    A word the reference holds twice counts twice only if the hypothesis has it twice too.
    """
    shared = collections.Counter(reference) & collections.Counter(hypothesis)
    return sum(shared.values())


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0.0 where either has no area."""
    return float(iou_matrix([a], [b])[0, 0])


def iou_matrix(truth: Sequence[Box], found: Sequence[Box]) -> np.ndarray:
    """IoU of every truth box (rows) with every found box (columns), as a float array."""
    t = np.asarray(truth, dtype=np.float64).reshape(-1, 4)[:, None, :]
    f = np.asarray(found, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = np.clip(np.minimum(t[..., 2], f[..., 2]) - np.maximum(t[..., 0], f[..., 0]), 0, None)
    height = np.clip(np.minimum(t[..., 3], f[..., 3]) - np.maximum(t[..., 1], f[..., 1]), 0, None)
    inter = width * height
    area_t = np.clip(t[..., 2] - t[..., 0], 0, None) * np.clip(t[..., 3] - t[..., 1], 0, None)
    area_f = np.clip(f[..., 2] - f[..., 0], 0, None) * np.clip(f[..., 3] - f[..., 1], 0, None)
    union = area_t + area_f - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_by_iou(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The one-to-one pairs at IoU >= ``threshold`` whose summed IoU is the largest possible.

    An optimal assignment (Hungarian method), not greedy highest-IoU-first: a found box that
    overlaps two truth lines serves at most one, and a pair is never taken where it would
    leave a better total unreachable.

    Args:
        iou: Truth (rows) by found (columns) IoU, as ``iou_matrix`` gives it.
        threshold: The least IoU of a pair, in (0, 1].

    Returns:
        ``(truth index, found index)`` pairs, sorted by truth index.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"IoU threshold must be in (0, 1], not {threshold}")
    eligible = iou >= threshold
    rows, cols = np.flatnonzero(eligible.any(axis=1)), np.flatnonzero(eligible.any(axis=0))
    if not len(rows):
        return []
    weights = np.where(eligible, iou, 0.0)[np.ix_(rows, cols)]
    transposed = len(rows) > len(cols)
    assigned = _min_cost_assignment(-(weights.T if transposed else weights))
    pairs = [(c, r) if transposed else (r, c) for r, c in assigned]
    kept = [(int(rows[r]), int(cols[c])) for r, c in pairs if eligible[rows[r], cols[c]]]
    return sorted(kept)


def _min_cost_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Each row to its own column at the least total cost (rows <= columns).

    The shortest-augmenting-path Hungarian method with row and column potentials, O(n^2 m);
    index 0 of the column arrays is a virtual column from which each new row starts.
    """
    n, m = cost.shape
    padded = np.zeros((n + 1, m + 1))
    padded[1:, 1:] = cost
    row_potential, col_potential = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # 1-based row holding each column; 0 when free
    came_from = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        owner[0], column = row, 0
        slack = np.full(m + 1, np.inf)
        visited = np.zeros(m + 1, dtype=bool)
        while owner[column]:
            visited[column] = True
            reduced = padded[owner[column]] - row_potential[owner[column]] - col_potential
            better = ~visited & (reduced < slack)
            slack[better], came_from[better] = reduced[better], column
            open_slack = np.where(visited, np.inf, slack)
            column = int(np.argmin(open_slack))
            delta = open_slack[column]
            row_potential[owner[visited]] += delta
            col_potential[visited] -= delta
            slack[~visited] -= delta
        while column:  # flip the augmenting path back to the virtual column
            previous = int(came_from[column])
            owner[column] = owner[previous]
            column = previous
    return [(int(owner[c]) - 1, c - 1) for c in range(1, m + 1) if owner[c]]
