"""Worker heartbeats in Redis: which workers run, and how many pages each holds.

Each worker process refreshes ``quire:workers:<queue>:<name>`` (value: pages in flight, then
``:draining`` once a shutdown has begun) every ``HEARTBEAT_SECONDS``; the key expires after
``QUIRE_WORKER_DEAD_AFTER_SECONDS`` (``HEARTBEAT_TTL`` by default) so a vanished worker drops
out, and the sweeper hands the pages it held back to the queue (``worker/reclaim.py``). The
scaler counts the ready keys as running workers (a draining worker takes no new page: it is no
longer ready), and never scales below the workers still holding pages, draining ones
included.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

log = logging.getLogger("quire.heartbeat")
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TTL = 30
PREFIX = "quire:workers"


def heartbeat_key(queue: str, name: str) -> str:
    return f"{PREFIX}:{queue}:{name}"


DRAINING = "draining"


@dataclass
class InFlight:
    """A thread-safe count of the pages this process holds, and whether it is draining."""

    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    draining: bool = False

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


def beat(
    client: redis.Redis,
    queue: str,
    name: str,
    in_flight: int,
    draining: bool = False,
    ttl: float = HEARTBEAT_TTL,
) -> None:
    """Publish one heartbeat, alive for ``ttl`` seconds."""
    value = f"{in_flight}:{DRAINING}" if draining else str(in_flight)
    client.set(heartbeat_key(queue, name), value, ex=max(1, round(ttl)))


def start_heartbeat(
    client: redis.Redis,
    queue: str,
    name: str,
    pages: InFlight,
    stop: threading.Event,
    interval: float = HEARTBEAT_SECONDS,
    ttl: float = HEARTBEAT_TTL,
    on_beat: Callable[[int], None] | None = None,
) -> threading.Thread:
    """Beat on a daemon thread until ``stop`` is set, then remove the key; ``on_beat`` gets
    the pages in flight after each beat (scale-in protection follows it)."""

    def loop() -> None:
        while not stop.is_set():
            try:
                beat(client, queue, name, pages.count, pages.draining, ttl)
            except redis.RedisError as e:
                log.warning("heartbeat failed: %s", e)
            if on_beat is not None:
                on_beat(pages.count)
            stop.wait(interval)
        with contextlib.suppress(redis.RedisError):
            client.delete(heartbeat_key(queue, name))

    thread = threading.Thread(target=loop, name="heartbeat", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Fleet:
    """What the heartbeats say about one queue's workers."""

    running: int
    busy: int


def read_fleet(client: redis.Redis, queue: str) -> Fleet:
    """Count ready workers of ``queue`` (live, not draining) and those holding a page."""
    keys = list(client.scan_iter(match=f"{PREFIX}:{queue}:*", count=500))
    values = [parse_beat(v) for v in (client.mget(keys) if keys else []) if v is not None]
    return Fleet(
        running=sum(1 for _, draining in values if not draining),
        busy=sum(1 for pages, _ in values if pages > 0),
    )


def live_workers(client: redis.Redis, queue: str) -> set[str]:
    """Names of the workers of ``queue`` whose heartbeat has not expired (draining too)."""
    prefix = f"{PREFIX}:{queue}:"
    return {
        (key.decode() if isinstance(key, bytes) else key)[len(prefix) :]
        for key in client.scan_iter(match=f"{prefix}*", count=500)
    }


def parse_beat(value: bytes | str) -> tuple[int, bool]:
    """(pages in flight, draining) from a heartbeat's value."""
    text = value.decode() if isinstance(value, bytes) else value
    pages, _, state = text.partition(":")
    return int(pages), state == DRAINING
