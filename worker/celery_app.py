"""Build and run a quire Celery worker for the given queues."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading

import redis
from celery import Celery
from celery.signals import (
    task_received,
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)
from celery.worker import state as worker_state

from shared.celery_config import build_celery
from shared.queues import CPU_QUEUE, GPU_QUEUE, INGEST_BATCH, TASK_QUEUES, TRAIN_QUEUE
from shared.redis_client import redis_from_url
from shared.settings import Settings
from training.service.leases import held_on_host
from worker.context import WorkerContext
from worker.engines.registry import check_engine
from worker.heartbeat import beat, start_heartbeat
from worker.libarchive_reader import library_version
from worker.metrics import serve_metrics
from worker.scaling.protection import ScaleInProtection, protect_while
from worker.stall_watchdog import Watchdog, queues_waiting, start_watchdog
from worker.tasks import register_tasks

log = logging.getLogger("quire.worker")


def create_worker_app(settings: Settings) -> tuple[Celery, WorkerContext]:
    """The Celery app with quire's tasks, and the context they run against."""
    app = build_celery(settings, name="quire-worker")
    ctx = WorkerContext.build(settings, producer=app)
    register_tasks(app, ctx)
    return app, ctx


def run_worker(settings: Settings, queues: list[str], concurrency: int, pool: str) -> None:
    """Consume ``queues`` until stopped; a GPU-queue worker loads its engine before work.

    With the prefork pool the engine is loaded in each child after the fork (models and
    sessions must not be shared across a fork); with threads (the GPU worker's pool) it is
    loaded once, and the ``concurrency`` page tasks share it through the micro-batchers.
    """
    if TASK_QUEUES[INGEST_BATCH] in queues:  # LibArchiveMissing now, not at the first batch
        log.info("archives are read with libarchive %s", library_version())
    app, ctx = create_worker_app(settings)
    loads_engine = GPU_QUEUE in queues
    name = f"quire-{'-'.join(queues)}-{os.getpid()}@{socket.gethostname()}"
    if loads_engine:
        check_engine(settings)

    def init_child(**_: object) -> None:
        ctx.after_fork()
        if loads_engine:
            ctx.load_engine()

    worker_process_init.connect(init_child, weak=False)
    stop_beating = threading.Event()
    if loads_engine:
        serve_metrics(settings.worker_metrics_port)
        beats = redis_from_url(settings.broker_url)
        ctx.worker_name = name  # its page claims carry it: the sweeper reclaims them fast
        protection = ScaleInProtection()  # on ECS: not stopped by scale-in while busy
        start_heartbeat(
            beats,
            GPU_QUEUE,
            name,
            ctx.in_flight,
            stop_beating,
            ttl=settings.worker_dead_after_seconds,
            on_beat=lambda pages: protection.update(pages > 0),
        )

        def draining(**_: object) -> None:
            # Not ready any more: the scaler stops counting it as capacity at once.
            ctx.in_flight.draining = True
            log.info("draining: no new pages; %d in flight", ctx.in_flight.count)
            with contextlib.suppress(redis.RedisError):
                beat(
                    beats,
                    GPU_QUEUE,
                    name,
                    ctx.in_flight.count,
                    draining=True,
                    ttl=settings.worker_dead_after_seconds,
                )

        worker_shutting_down.connect(draining, weak=False)
    elif CPU_QUEUE in queues:
        # Its splits and ingests carry its name (children inherit it across the fork): when
        # its heartbeat stops, the sweeper sends them again at once.
        ctx.worker_name = name
        start_heartbeat(
            redis_from_url(settings.broker_url),
            CPU_QUEUE,
            name,
            ctx.in_flight,
            stop_beating,
            ttl=settings.worker_dead_after_seconds,
        )

    if TRAIN_QUEUE in queues:  # on ECS: not stopped by scale-in while a training runs
        host = socket.gethostname()
        protect_while(lambda: held_on_host(ctx.sessions, host) > 0, stop_beating)

    def shutdown(**_: object) -> None:
        stop_beating.set()
        ctx.close()

    worker_shutdown.connect(shutdown, weak=False)
    watchdog = Watchdog(
        waiting=queues_waiting(redis_from_url(settings.broker_url), queues),
        held=lambda: len(worker_state.reserved_requests),
        capacity=concurrency,
        stall_after=settings.worker_stall_seconds,
    )
    task_received.connect(watchdog.note_received, weak=False)

    def ready(**_: object) -> None:
        watchdog.note_received()
        start_watchdog(watchdog, settings.worker_soft_shutdown_seconds, stop_beating)

    worker_ready.connect(ready, weak=False)
    if loads_engine and pool != "prefork":
        ctx.load_engine()
    log.info("worker %s consuming %s with %s x%d", name, queues, pool, concurrency)
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--hostname",
            name,
            "--loglevel",
            settings.log_level,
            "--without-gossip",
            "--without-mingle",
        ]
    )
