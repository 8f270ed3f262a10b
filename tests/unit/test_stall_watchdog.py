"""The stalled-consumer watchdog's decision, with a fake clock."""

from __future__ import annotations

import pytest
import redis

from worker.stall_watchdog import Watchdog, is_stalled


@pytest.mark.parametrize(
    ("waiting", "held", "capacity", "idle", "after", "stalled"),
    [
        (5, 0, 4, 30, 30, True),
        (5, 3, 4, 31, 30, True),
        (5, 0, 4, 29, 30, False),  # not long enough
        (0, 0, 4, 999, 30, False),  # nothing waits
        (5, 4, 4, 999, 30, False),  # no free slot
        (5, 0, 4, 999, 0, False),  # turned off
    ],
)
def test_is_stalled(
    waiting: int, held: int, capacity: int, idle: float, after: float, stalled: bool
) -> None:
    assert is_stalled(waiting, held, capacity, idle, after) is stalled


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_receiving_and_being_busy_reset_the_idle_time() -> None:
    clock, held = Clock(), [0]
    dog = Watchdog(lambda: 3, lambda: held[0], capacity=2, stall_after=10, clock=clock)
    clock.now += 9
    assert not dog.check()
    dog.note_received()
    clock.now += 9
    assert not dog.check()
    held[0] = 2  # busy: the window restarts when a slot frees
    clock.now += 30
    assert not dog.check()
    held[0] = 1
    clock.now += 9
    assert not dog.check()
    clock.now += 2
    assert dog.check()


def test_a_broker_outage_is_not_a_stall() -> None:
    def down() -> int:
        raise redis.ConnectionError("refused")

    clock = Clock()
    dog = Watchdog(down, lambda: 0, capacity=1, stall_after=5, clock=clock)
    clock.now += 60
    assert not dog.check()
