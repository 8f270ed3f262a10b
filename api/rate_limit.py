"""Per-key request rate as GCRA (a token bucket kept as one timestamp), and its headers.

These are pure functions over a clock value; ``api.rate_limiter`` runs the same step as a
Redis script so that every API process shares one bucket per key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_MINUTE = 60.0
# Clock values come from Redis with microseconds; round away float noise before ceil().
ROUND_DIGITS = 6
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "requests the key may send at once (the burst)",
    "RateLimit-Remaining": "requests the key may still send now",
    "RateLimit-Reset": "seconds until the key's full burst is available again",
    "RateLimit-Policy": "`<burst>;w=<seconds>`: the burst refills over that many seconds",
}


@dataclass(frozen=True)
class RatePolicy:
    """``per_minute`` requests per minute on average, at most ``burst`` at once."""

    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        """Seconds one request costs: the bucket refills one request per interval."""
        return SECONDS_PER_MINUTE / self.per_minute

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to refill to ``burst``."""
        return max(1, _ceil(self.burst * self.interval))


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its bucket.

    Attributes:
        allowed: whether the request may go on.
        remaining: requests the key could still send now.
        retry_after: seconds until a refused request would be allowed (0 when allowed).
        reset_after: seconds until the bucket is full again.
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float


def gcra_step(tat: float | None, now: float, policy: RatePolicy) -> tuple[Decision, float | None]:
    """One request at ``now`` against a bucket whose theoretical arrival time is ``tat``.

    Args:
        tat: the stored theoretical arrival time, or None for an unused bucket.
        now: the current time in seconds.
        policy: the rate and burst.

    Returns:
        The decision, and the new theoretical arrival time to store (None when refused:
        a refused request costs nothing).
    """
    start = now if tat is None else max(tat, now)
    new_tat = start + policy.interval
    allow_at = new_tat - policy.interval * policy.burst
    if now < allow_at:
        return Decision(False, 0, _clean(allow_at - now), _clean(start - now)), None
    remaining = math.floor(_clean((now - allow_at) / policy.interval))
    return Decision(True, remaining, 0.0, _clean(new_tat - now)), new_tat


def rate_limit_headers(decision: Decision, policy: RatePolicy) -> dict[str, str]:
    """The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers) of a decision.

    ``RateLimit-Limit`` is the burst (what may be sent at once); the policy says that quota
    refills over ``w`` seconds, which is the per-minute rate.
    """
    return {
        "RateLimit-Limit": str(policy.burst),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(_ceil(decision.reset_after)),
        "RateLimit-Policy": f"{policy.burst};w={policy.window}",
    }


def retry_after_seconds(decision: Decision) -> int:
    """``Retry-After`` of a refused request: whole seconds, never 0."""
    return max(1, _ceil(decision.retry_after))


def _clean(value: float) -> float:
    return round(value, ROUND_DIGITS)


def _ceil(value: float) -> int:
    return math.ceil(_clean(value))
