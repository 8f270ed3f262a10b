"""A worker whose consumer stopped consuming ends itself, so its supervisor starts a new one.

Celery's Redis consumer can reconnect after a broker restart and then never fetch again
(celery/celery#8091, #10205: the worker looks alive while its queue grows; seen here in the
chaos suite). The watchdog compares, every few seconds, the messages waiting in the worker's
queues, the tasks it holds and the time since it last received one: waiting work, a free
slot and nothing received for ``QUIRE_WORKER_STALL_SECONDS`` means stalled. It then asks for a
warm shutdown (in-flight pages finish or go back to the broker) and exits hard if that does
not end the process within the soft-shutdown time. ``make run``, compose and ECS restart it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from shared.queue_depth import waiting_messages

log = logging.getLogger("quire.worker")
EXIT_STALLED = 70


def is_stalled(
    waiting: int, held: int, capacity: int, idle_seconds: float, stall_after: float
) -> bool:
    """Whether a consumer has stopped: work waits, it has room, and it took none for long."""
    return stall_after > 0 and waiting > 0 and held < capacity and idle_seconds >= stall_after


@dataclass
class Watchdog:
    """Watches one worker process; ``note_received`` is called for every message it takes.

    Args:
        waiting: Messages waiting in the worker's queues (Redis errors count as unknown).
        held: Tasks the worker holds (received and not finished).
        capacity: Tasks it may hold at once (the pool's concurrency).
        stall_after: Seconds without receiving while work waits; 0 turns it off.
        clock: Monotonic time, for tests.
    """

    waiting: Callable[[], int]
    held: Callable[[], int]
    capacity: int
    stall_after: float
    clock: Callable[[], float] = time.monotonic
    last_received: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_received = self.clock()

    def note_received(self, **_: object) -> None:
        self.last_received = self.clock()

    def check(self) -> bool:
        """One look; True when the worker is stalled."""
        held = self.held()
        if held >= self.capacity:
            # Busy is not stalled: the idle clock starts when a slot frees up.
            self.last_received = self.clock()
            return False
        try:
            waiting = self.waiting()
        except redis.RedisError:
            return False  # the broker is down: the consumer is reconnecting, not stalled
        idle = self.clock() - self.last_received
        return is_stalled(waiting, held, self.capacity, idle, self.stall_after)


def queues_waiting(client: redis.Redis, queues: list[str]) -> Callable[[], int]:
    """Messages waiting in all of ``queues``."""
    return lambda: sum(waiting_messages(client, q) for q in queues)


def start_watchdog(watchdog: Watchdog, grace_seconds: float, stop: threading.Event) -> None:
    """Check on a daemon thread until ``stop``; on a stall, shut the process down."""

    def loop() -> None:
        interval = max(watchdog.stall_after / 4, 0.5)
        while not stop.wait(interval):
            if watchdog.check():
                _end_process(watchdog.stall_after, grace_seconds)
                return

    if watchdog.stall_after > 0:
        threading.Thread(target=loop, name="stall-watchdog", daemon=True).start()


def _end_process(stall_after: float, grace_seconds: float) -> None:
    log.error(
        "the worker took no message for %.0fs while work waits: its consumer has stalled; "
        "shutting down so that it is started again",
        stall_after,
    )
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds + 10)
    log.error("warm shutdown did not end the stalled worker; exiting")
    os._exit(EXIT_STALLED)
