"""Batch planning for recognizers: group crops of similar width, then restore the input order.

Autoregressive recognizers generate until the longest line of a batch is done; wide crops hold
long lines, so putting crops of similar width together keeps generation lengths in one batch
similar and wastes fewer decoding steps on finished sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

T = TypeVar("T")


def bucket_by_width(widths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group crop indices into batches of crops of similar width.

    Args:
        widths: The width in pixels of each crop, in input order.
        batch_size: The largest number of indices in one batch (at least 1).

    Returns:
        Batches of indices into ``widths``, narrowest crops first; every index appears exactly
        once. Ties keep their input order, so the plan is deterministic.

    Raises:
        ValueError: If ``batch_size`` is smaller than 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def restore_order(batches: list[list[int]], results_per_batch: list[list[T]], n: int) -> list[T]:
    """Put per-batch results back into the original index order.

    Args:
        batches: The index batches, as returned by :func:`bucket_by_width`.
        results_per_batch: One result list per batch, aligned with that batch's indices.
        n: The number of inputs; the batches must cover ``range(n)`` exactly once.

    Returns:
        The ``n`` results, the result for input ``i`` at position ``i``.

    Raises:
        ValueError: If a batch and its results differ in length, or the indices do not cover
            ``range(n)`` exactly once.
    """
    if len(batches) != len(results_per_batch):
        raise ValueError(f"{len(batches)} batches but {len(results_per_batch)} result lists")
    slots: list[T | None] = [None] * n
    filled = [False] * n
    for indices, results in zip(batches, results_per_batch, strict=True):
        if len(indices) != len(results):
            raise ValueError(f"batch of {len(indices)} indices has {len(results)} results")
        for index, result in zip(indices, results, strict=True):
            if not 0 <= index < n or filled[index]:
                raise ValueError(f"index {index} is out of range or repeated")
            slots[index] = result
            filled[index] = True
    if not all(filled):
        raise ValueError(f"indices cover {sum(filled)} of {n} inputs")
    return cast("list[T]", slots)
