"""The once-a-minute memory of API key use."""

from __future__ import annotations

import pytest

from api.key_usage import UsageThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("gaps", "written"),
    [
        ([], [True]),
        ([0.0], [True, False]),
        ([30.0, 29.9], [True, False, False]),
        ([59.9, 0.1], [True, False, True]),  # 60 s after the first write
        ([60.0], [True, True]),
        ([10.0, 55.0, 10.0], [True, False, True, False]),  # counted from the last write
    ],
)
def test_a_key_is_written_at_most_once_per_interval(gaps: list[float], written: list[bool]) -> None:
    clock = Clock()
    throttle = UsageThrottle(60.0, clock=clock)
    seen = [throttle.due("k")]
    for gap in gaps:
        clock.now += gap
        seen.append(throttle.due("k"))
    assert seen == written


def test_keys_are_throttled_separately() -> None:
    throttle = UsageThrottle(60.0, clock=Clock())
    assert [throttle.due("a"), throttle.due("b"), throttle.due("a"), throttle.due("b")] == [
        True,
        True,
        False,
        False,
    ]


def test_the_memory_is_bounded_and_a_forgotten_key_is_written_again() -> None:
    throttle = UsageThrottle(60.0, max_entries=2, clock=Clock())
    assert throttle.due("a") and throttle.due("b") and throttle.due("c")
    assert len(throttle._written) == 2
    assert throttle.due("a")  # "a" was dropped as the oldest: written again, never lost
    assert not throttle.due("c")
