"""Train/validation splits by page: lines of one page never end up on both sides."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def split_by_page(
    items: Iterable[T], fraction: float, seed: int, key: Callable[[T], str]
) -> tuple[list[T], list[T]]:
    """Items split into train and validation, every item of a page on the same side.

    The distinct pages are sorted, shuffled with ``seed`` and the first
    ``round(fraction * pages)`` go to validation, so the same items, fraction and seed give
    the same split whatever order the items come in.

    Args:
        items: Pages, line samples, or anything ``key`` maps to a page.
        fraction: The share of pages for validation, in ``[0, 1)``. Above 0, validation gets
            at least one page and training keeps at least one, where there are two or more.
        seed: The shuffle's seed.
        key: The page an item belongs to (``lambda sample: sample.page_id``).

    Returns:
        ``(train, val)``, each in the items' order.

    Raises:
        ValueError: ``fraction`` is outside ``[0, 1)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the validation fraction must be in [0, 1), not {fraction}")
    listed = list(items)
    pages = sorted({key(item) for item in listed})
    random.Random(seed).shuffle(pages)
    val_pages = set(pages[: validation_count(len(pages), fraction)])
    train = [item for item in listed if key(item) not in val_pages]
    val = [item for item in listed if key(item) in val_pages]
    return train, val


def validation_count(pages: int, fraction: float) -> int:
    """How many of ``pages`` go to validation: the rounded share, within ``[1, pages - 1]``."""
    if fraction <= 0.0 or pages < 2:
        return 0
    return min(pages - 1, max(1, round(fraction * pages)))
