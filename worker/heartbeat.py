"""Worker heartbeats in Redis: which workers run, and how many pages each holds.

Each worker process refreshes ``quire:workers:<queue>:<name>`` (value: pages in flight) every
``HEARTBEAT_SECONDS``; the key expires after ``HEARTBEAT_TTL`` so a vanished worker drops out.
The scaler counts the keys, and never scales below the workers still holding pages.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field

import redis

log = logging.getLogger("quire.heartbeat")
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TTL = 30
PREFIX = "quire:workers"


def heartbeat_key(queue: str, name: str) -> str:
    return f"{PREFIX}:{queue}:{name}"


@dataclass
class InFlight:
    """A thread-safe count of the pages this process holds."""

    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delta: int) -> None:
        with self._lock:
            self._count += delta

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


def beat(client: redis.Redis, queue: str, name: str, in_flight: int) -> None:
    """Publish one heartbeat."""
    client.set(heartbeat_key(queue, name), in_flight, ex=HEARTBEAT_TTL)


def start_heartbeat(
    client: redis.Redis,
    queue: str,
    name: str,
    pages: InFlight,
    stop: threading.Event,
    interval: float = HEARTBEAT_SECONDS,
) -> threading.Thread:
    """Beat on a daemon thread until ``stop`` is set, then remove the key."""

    def loop() -> None:
        while not stop.is_set():
            try:
                beat(client, queue, name, pages.count)
            except redis.RedisError as e:
                log.warning("heartbeat failed: %s", e)
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
    """Count live workers of ``queue`` and those holding at least one page."""
    keys = list(client.scan_iter(match=f"{PREFIX}:{queue}:*", count=500))
    values = client.mget(keys) if keys else []
    holding = [int(v) for v in values if v is not None]
    return Fleet(running=len(holding), busy=sum(1 for n in holding if n > 0))


def redis_from_url(url: str) -> redis.Redis:
    """A Redis client for a Celery broker URL (``redis+socket://`` becomes ``unix://``)."""
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
