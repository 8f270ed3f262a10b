"""Celery configuration shared by the API (which only sends) and the workers.

Both sides must agree on the broker transport options, the visibility timeout above all,
so the configuration is built in one place.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from shared.queues import CPU_QUEUE, GPU_QUEUE, TASK_QUEUES, TRAIN_QUEUE
from shared.settings import Settings

# Redis priorities: 0 is served first; kombu keeps one sub-list per step.
PRIORITY_STEPS = [0, 3, 6, 9]
PRIORITY_BY_NAME = {"interactive": 0, "bulk": 6}


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings of every quire process, with the reason for each."""
    visibility = settings.effective_visibility_timeout
    transport = {
        # Unacked messages come back after this; >= 3x the hard limit so a running page is
        # never handed to a second worker.
        "visibility_timeout": visibility,
        "queue_order_strategy": "priority",
        "priority_steps": PRIORITY_STEPS,
    }
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        # Celery reads the visibility timeout here as well when a Redis backend is used.
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "broker_connection_retry_on_startup": True,
        # Producer connections: one per API thread that may send at once (the default of 10
        # made concurrent submits queue for a connection).
        "broker_pool_limit": 40,
        "task_serializer": "json",
        "accept_content": ["json"],
        # Results live in the database; Celery's result store would only grow.
        "task_ignore_result": True,
        # Ack after the page is written: a crash mid-page redelivers it.
        "task_acks_late": True,
        # A worker process killed by the OOM killer or kill -9 hands its message back.
        "task_reject_on_worker_lost": True,
        # One message per process at a time keeps the backlog in Redis, visible to scaling.
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        # SIGTERM: finish in-flight pages for this long before handing them back.
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_seconds,
        "worker_enable_soft_shutdown_on_idle": True,
        "task_queues": [Queue(CPU_QUEUE), Queue(GPU_QUEUE), Queue(TRAIN_QUEUE)],
        "task_default_queue": CPU_QUEUE,
        "task_routes": {name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
        "task_default_priority": PRIORITY_BY_NAME["interactive"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }


def build_celery(settings: Settings, name: str = "quire") -> Celery:
    """A Celery app configured for quire; the worker adds its tasks to it."""
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(settings))
    return app
