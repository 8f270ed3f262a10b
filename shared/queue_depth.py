"""Messages waiting in a Celery queue on Redis, counted across kombu's priority sub-lists.

kombu keeps one Redis list per priority step: the plain queue name for step 0 and
``name + "\\x06\\x16" + str(step)`` for every other step. ``LLEN`` of the plain key alone
misses every message sent with a non-zero priority (bulk jobs above all), so scaling on it
would undercount the backlog.
"""

from __future__ import annotations

from bisect import bisect

import redis

from shared.celery_config import PRIORITY_STEPS

# kombu.transport.redis.Channel.sep: the separator between a queue name and its priority.
PRIORITY_SEPARATOR = "\x06\x16"
MAX_PRIORITY = 9


def priority_key(queue: str, priority: int) -> str:
    """The Redis list kombu puts a message of ``priority`` (clamped to 0..9) on: that of
    the highest step not above it, the plain queue name for step 0."""
    step = PRIORITY_STEPS[bisect(PRIORITY_STEPS, min(max(priority, 0), MAX_PRIORITY)) - 1]
    return f"{queue}{PRIORITY_SEPARATOR}{step}" if step else queue


def queue_keys(queue: str) -> list[str]:
    """The Redis keys holding the messages of ``queue``, highest priority (step 0) first.

    Args:
        queue: The Celery queue name, e.g. ``"gpu"``.

    Returns:
        The plain key for step 0, then one key per non-zero priority step.
    """
    return [priority_key(queue, step) for step in PRIORITY_STEPS]


def waiting_messages(client: redis.Redis, queue: str) -> int:
    """Messages waiting in ``queue`` over all its priority sub-lists, read in one round trip.

    Messages already delivered to a worker (unacked, in flight) are not counted.

    Args:
        client: A Redis client on the broker database.
        queue: The Celery queue name.

    Returns:
        The sum of ``LLEN`` over :func:`queue_keys`; a missing key counts as 0.
    """
    pipe = client.pipeline(transaction=False)
    for key in queue_keys(queue):
        pipe.llen(key)
    return sum(int(n) for n in pipe.execute())
