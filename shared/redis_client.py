"""A Redis client for the broker URL, whatever form the settings give it in."""

from __future__ import annotations

import redis


def redis_from_url(url: str, connect_timeout: float = 5.0, timeout: float = 10.0) -> redis.Redis:
    """A Redis client for a Celery broker URL (``redis+socket://`` becomes ``unix://``).

    Args:
        url: ``redis://``, ``rediss://``, ``unix://`` or Celery's ``redis+socket://`` (the
            embedded Redis of ``quire run``).
        connect_timeout: Seconds to connect.
        timeout: Seconds per command.
    """
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
