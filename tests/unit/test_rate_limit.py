"""GCRA arithmetic and RateLimit header formatting, against a fake clock."""

from __future__ import annotations

import pytest

from api.rate_limit import (
    Decision,
    RatePolicy,
    gcra_step,
    rate_limit_headers,
    retry_after_seconds,
)

# 60 per minute: one request per second, 3 at once.
POLICY = RatePolicy(per_minute=60, burst=3)


def run(policy: RatePolicy, times: list[float]) -> list[Decision]:
    """Send one request at each time; refused requests do not advance the bucket."""
    tat: float | None = None
    decisions = []
    for now in times:
        decision, new_tat = gcra_step(tat, now, policy)
        if new_tat is not None:
            tat = new_tat
        decisions.append(decision)
    return decisions


@pytest.mark.parametrize(
    ("times", "allowed", "remaining"),
    [
        ([0.0], [True], [2]),
        ([0.0, 0.0, 0.0], [True, True, True], [2, 1, 0]),
        ([0.0, 0.0, 0.0, 0.0], [True, True, True, False], [2, 1, 0, 0]),
        # One second refills one request.
        ([0.0, 0.0, 0.0, 1.0, 1.0], [True, True, True, True, False], [2, 1, 0, 0, 0]),
        # Half a second is not enough.
        ([0.0, 0.0, 0.0, 0.5], [True, True, True, False], [2, 1, 0, 0]),
        # A long pause refills the bucket, but never beyond the burst.
        ([0.0, 0.0, 0.0, 100.0], [True, True, True, True], [2, 1, 0, 2]),
        # Steady at the rate: always allowed.
        ([0.0, 1.0, 2.0, 3.0, 4.0], [True] * 5, [2, 2, 2, 2, 2]),
        # Refusals cost nothing: the next second still admits one.
        ([0, 0, 0, 0.2, 0.4, 0.6, 1.0], [True] * 3 + [False] * 3 + [True], [2, 1, 0, 0, 0, 0, 0]),
    ],
)
def test_bucket_admits_the_burst_then_the_rate(
    times: list[float], allowed: list[bool], remaining: list[int]
) -> None:
    decisions = run(POLICY, times)
    assert [d.allowed for d in decisions] == allowed
    assert [d.remaining for d in decisions] == remaining


@pytest.mark.parametrize(
    ("times", "retry_after", "reset_after"),
    [
        ([0.0], 0.0, 1.0),
        ([0.0, 0.0, 0.0], 0.0, 3.0),
        ([0.0, 0.0, 0.0, 0.0], 1.0, 3.0),
        ([0.0, 0.0, 0.0, 0.25], 0.75, 2.75),
        ([10.0, 10.0, 10.0, 10.9], 0.1, 2.1),
    ],
)
def test_retry_after_and_reset(times: list[float], retry_after: float, reset_after: float) -> None:
    last = run(POLICY, times)[-1]
    assert last.retry_after == pytest.approx(retry_after)
    assert last.reset_after == pytest.approx(reset_after)


def test_waiting_retry_after_is_enough() -> None:
    tat: float | None = None
    for _ in range(POLICY.burst):
        _, tat = gcra_step(tat, 0.0, POLICY)
    refused, _ = gcra_step(tat, 0.0, POLICY)
    assert not refused.allowed
    later, _ = gcra_step(tat, refused.retry_after, POLICY)
    assert later.allowed


@pytest.mark.parametrize(
    ("policy", "interval", "window"),
    [
        (RatePolicy(600, 60), 0.1, 6),
        (RatePolicy(60, 3), 1.0, 3),
        (RatePolicy(7, 5), 60 / 7, 43),
        (RatePolicy(6000, 1), 0.01, 1),
    ],
)
def test_policy_interval_and_window(policy: RatePolicy, interval: float, window: int) -> None:
    assert policy.interval == pytest.approx(interval)
    assert policy.window == window


@pytest.mark.parametrize(
    ("decision", "policy", "expected"),
    [
        (
            Decision(True, 59, 0.0, 0.1),
            RatePolicy(600, 60),
            {"RateLimit-Limit": "60", "RateLimit-Remaining": "59", "RateLimit-Reset": "1"},
        ),
        (
            Decision(False, 0, 0.25, 2.75),
            RatePolicy(60, 3),
            {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"},
        ),
        (
            Decision(True, 0, 0.0, 3.0000000001),  # float noise does not add a second
            RatePolicy(60, 3),
            {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"},
        ),
    ],
)
def test_headers(decision: Decision, policy: RatePolicy, expected: dict[str, str]) -> None:
    headers = rate_limit_headers(decision, policy)
    assert headers == {**expected, "RateLimit-Policy": f"{policy.burst};w={policy.window}"}


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [(0.0, 1), (0.001, 1), (0.75, 1), (1.0, 1), (1.0000000001, 1), (1.2, 2), (42.5, 43)],
)
def test_retry_after_is_whole_seconds_never_zero(retry_after: float, seconds: int) -> None:
    assert retry_after_seconds(Decision(False, 0, retry_after, 0.0)) == seconds
