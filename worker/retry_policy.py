"""Retry policy of the task queues, declared once: what is retried, and when."""

from __future__ import annotations

import random

from shared.errors import QuireError

MAX_BACKOFF_SECONDS = 60.0


def is_retryable(error: BaseException) -> bool:
    """Retry dependency outages and unexpected failures (time limits too); never bad input."""
    if isinstance(error, QuireError):
        return error.retryable
    return True


def backoff_seconds(
    attempt: int, base: float, jitter: float = 0.25, rand: random.Random | None = None
) -> float:
    """Exponential backoff with proportional jitter, capped at ``MAX_BACKOFF_SECONDS``.

    ``attempt`` counts from 1; attempt 1 waits about ``base`` seconds.
    """
    # The exponent is bounded so a huge attempt number cannot overflow a float.
    delay = min(base * 2.0 ** min(max(attempt - 1, 0), 64), MAX_BACKOFF_SECONDS)
    spread = (rand or random).uniform(-jitter, jitter)
    return max(0.0, delay * (1 + spread))
