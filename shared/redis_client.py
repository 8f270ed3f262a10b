"""A Redis client for the broker URL, whatever form the settings give it in."""

from __future__ import annotations

import redis
import redis.asyncio


def _plain_url(url: str) -> str:
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


def redis_from_url(url: str, connect_timeout: float = 5.0, timeout: float = 10.0) -> redis.Redis:
    """A Redis client for a Celery broker URL (``redis+socket://`` becomes ``unix://``).

    Args:
        url: ``redis://``, ``rediss://``, ``unix://`` or Celery's ``redis+socket://`` (the
            embedded Redis of ``quire run``).
        connect_timeout: Seconds to connect.
        timeout: Seconds per command.
    """
    return redis.Redis.from_url(
        _plain_url(url), socket_connect_timeout=connect_timeout, socket_timeout=timeout
    )


def async_redis_from_url(
    url: str, connect_timeout: float = 5.0, timeout: float = 10.0
) -> redis.asyncio.Redis:
    """The same, for asyncio: its connections belong to the event loop they first run on."""
    return redis.asyncio.Redis.from_url(
        _plain_url(url), socket_connect_timeout=connect_timeout, socket_timeout=timeout
    )
