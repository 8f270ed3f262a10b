"""Sending a task to the broker in one Redis command, as Celery's workers expect it.

The API sends one task per submission. Celery's ``send_task`` does much more than that needs:
routing, argument reprs, signals, retry wrappers, and kombu builds a Redis client object
for every message; together several times the ``LPUSH`` that is the actual work, on the
API's hottest path. ``TaskSender`` writes the message kombu's Redis transport writes --
Celery's task protocol 2 in kombu's envelope, pushed onto the list of the queue's priority
step -- with one long-lived Redis client. The workers consume it like any Celery message;
an integration test compares it with a message sent by Celery itself and has a real worker
run one.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from collections.abc import Mapping

import redis

from shared.queue_depth import priority_key
from shared.redis_client import redis_from_url

# Redis answers in microseconds; the broker being down should cost a submit little.
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
# Protocol 2's third body element: no callbacks, errbacks, chain or chord.
NO_CANVAS = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class TaskSender:
    """Sends tasks by name with keyword arguments, one ``LPUSH`` each."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.origin = f"{os.getpid()}@{socket.gethostname()}"
        # Results are never read (``task_ignore_result``); Celery still sends a reply_to.
        self.reply_to = str(uuid.uuid4())

    @classmethod
    def from_url(cls, url: str) -> TaskSender:
        """A sender on the broker URL (any form ``redis_from_url`` takes)."""
        return cls(redis_from_url(url, CONNECT_TIMEOUT_S, COMMAND_TIMEOUT_S))

    def message(
        self, task: str, kwargs: Mapping[str, object], queue: str, priority: int, task_id: str
    ) -> bytes:
        """The message as stored in Redis."""
        body = json.dumps([[], dict(kwargs), NO_CANVAS]).encode()
        headers: dict[str, object] = {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": repr(dict(kwargs)),
            "origin": self.origin,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        properties: dict[str, object] = {
            "correlation_id": task_id,
            "reply_to": self.reply_to,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        envelope = {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
        return json.dumps(envelope).encode()

    def send(self, task: str, kwargs: Mapping[str, object], queue: str, priority: int) -> str:
        """Queue ``task`` and return its id.

        Raises:
            redis.RedisError: the broker did not take it.
        """
        task_id = str(uuid.uuid4())
        self.client.lpush(
            priority_key(queue, priority), self.message(task, kwargs, queue, priority, task_id)
        )
        return task_id

    def ping(self) -> None:
        """Raise unless the broker answers."""
        self.client.ping()

    def close(self) -> None:
        self.client.close()
