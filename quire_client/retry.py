"""How long to wait: ``Retry-After`` headers, backoff between attempts, delay between polls.

Pure functions; the policies that use them (API calls, part uploads, polling) name their
attempt limits here too, so they are declared once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

API_ATTEMPTS = 5  # one request answered 429/503: tries in all before giving up
PART_ATTEMPTS = 4  # one part upload: the first try and 3 retries
POLL_ERRORS_TOLERATED = 5  # consecutive failed polls before ``--wait`` gives up
MAX_POLL_SECONDS = 5.0
MAX_RETRY_AFTER_SECONDS = 60.0


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds.

    Args:
        value: The header: delta-seconds (``"5"``) or an HTTP-date.
        now: The current time, for HTTP-dates (default: the clock).

    Returns:
        Seconds (never negative), or ``None`` when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff after failed attempt number ``attempt`` (1-based), capped."""
    return float(min(cap, base * 2 ** (max(attempt, 1) - 1)))


def retry_wait(attempt: int, retry_after: float | None) -> float:
    """The server's ``Retry-After`` when it gave one (bounded), else backoff."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER_SECONDS)
    return backoff_seconds(attempt)


def poll_delay(retry_after: float | None, default: float = 1.0) -> float:
    """Seconds until the next poll: what the server asked, at most ``MAX_POLL_SECONDS``."""
    wanted = default if retry_after is None else retry_after
    return min(max(wanted, 0.0), MAX_POLL_SECONDS)
