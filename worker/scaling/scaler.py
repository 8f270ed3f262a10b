"""The scaler: measures the GPU and train queues and publishes the autoscaling signals.

``BacklogPerTask = backlog / max(running workers, 1)`` goes to CloudWatch with the raw figures
(backlog, pages in flight, running and busy workers); ECS target tracking scales the GPU service
on it, and a step alarm on ``Backlog > 0`` while no worker runs takes it from zero to one.

The train queue gets ``WorkersNeeded``: trainings queued or running in the database, one worker
each (``infra/modules/scaling/train.tf`` sets the train service's count to it). The queue's
depth alone would scale in under a running training, whose message is unacked, not waiting.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any

import boto3
import redis
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import Gauge
from sqlalchemy import func, select

from shared.db.models import Page, PageStatus, Training, TrainingStatus
from shared.errors import QuireError
from shared.queue_depth import waiting_messages
from shared.queues import GPU_QUEUE, TRAIN_QUEUE
from shared.settings import Settings
from worker.context import WorkerContext
from worker.heartbeat import read_fleet
from worker.metrics import serve_metrics
from worker.scaling.policy import backlog_per_task

log = logging.getLogger("quire.scaler")
GAUGES = {
    name: Gauge(f"quire_gpu_queue_{name}", f"GPU queue: {name.replace('_', ' ')}.")
    for name in ("backlog", "in_flight", "running_workers", "busy_workers", "backlog_per_task")
}
# The ECS service of the train queue's workers, and its metrics' Service dimension (infra/).
TRAIN_SERVICE = "worker-train"
TRAIN_GAUGES = {
    name: Gauge(f"quire_train_queue_{name}", f"Train queue: {name.replace('_', ' ')}.")
    for name in ("backlog", "in_flight", "workers_needed")
}


@dataclass(frozen=True)
class QueueMetrics:
    """One measurement of the GPU queue."""

    backlog: int
    in_flight: int
    running_workers: int
    busy_workers: int

    @property
    def backlog_per_task(self) -> float:
        return backlog_per_task(self.backlog, self.running_workers)


def measure(ctx: WorkerContext, client: redis.Redis, queue: str = GPU_QUEUE) -> QueueMetrics:
    """Waiting messages (all priorities), pages running (DB) and live workers (heartbeats)."""
    with ctx.sessions() as session:
        running_pages = session.scalar(
            select(func.count()).select_from(Page).where(Page.status == PageStatus.RUNNING.value)
        )
    fleet = read_fleet(client, queue)
    return QueueMetrics(
        waiting_messages(client, queue), int(running_pages or 0), fleet.running, fleet.busy
    )


def metric_data(metrics: QueueMetrics, service: str) -> list[dict[str, Any]]:
    """The CloudWatch datapoints of one measurement."""
    dimensions = [{"Name": "Service", "Value": service}]
    values = {
        **{k: float(v) for k, v in asdict(metrics).items()},
        "backlog_per_task": metrics.backlog_per_task,
    }
    names = {
        "backlog": "Backlog",
        "in_flight": "InFlight",
        "running_workers": "RunningWorkers",
        "busy_workers": "BusyWorkers",
        "backlog_per_task": "BacklogPerTask",
    }
    return [
        {"MetricName": names[k], "Dimensions": dimensions, "Value": v, "Unit": "Count"}
        for k, v in values.items()
    ]


@dataclass(frozen=True)
class TrainingMetrics:
    """One measurement of the train queue (one training per worker, for hours).

    Attributes:
        backlog: Messages waiting in the ``train`` queue, all priorities.
        in_flight: Trainings running (database); their messages are unacked, not waiting.
        workers_needed: Trainings queued or running: the train service's worker count. One
            database count, so a training moving from queued to running is never counted
            twice or missed, and a duplicate message (dropped by the lease) never counts.
    """

    backlog: int
    in_flight: int
    workers_needed: int


def measure_trainings(ctx: WorkerContext, client: redis.Redis) -> TrainingMetrics:
    """Waiting ``train`` messages (Redis) and open trainings by status (database)."""
    with ctx.sessions() as session:
        counts = dict(
            session.execute(
                select(Training.status, func.count())
                .where(
                    Training.status.in_([TrainingStatus.QUEUED.value, TrainingStatus.RUNNING.value])
                )
                .group_by(Training.status)
            ).all()
        )
    running = int(counts.get(TrainingStatus.RUNNING.value, 0))
    queued = int(counts.get(TrainingStatus.QUEUED.value, 0))
    return TrainingMetrics(waiting_messages(client, TRAIN_QUEUE), running, running + queued)


def training_metric_data(metrics: TrainingMetrics, service: str) -> list[dict[str, Any]]:
    """The CloudWatch datapoints of one train-queue measurement."""
    dimensions = [{"Name": "Service", "Value": service}]
    names = {"backlog": "Backlog", "in_flight": "InFlight", "workers_needed": "WorkersNeeded"}
    return [
        {"MetricName": names[k], "Dimensions": dimensions, "Value": float(v), "Unit": "Count"}
        for k, v in asdict(metrics).items()
    ]


def cloudwatch_client(settings: Settings) -> Any:
    return boto3.client(
        "cloudwatch", region_name=settings.s3_region, endpoint_url=settings.cloudwatch_endpoint_url
    )


def publish(cloudwatch: Any, settings: Settings, metrics: QueueMetrics) -> None:
    """Send one measurement to CloudWatch."""
    cloudwatch.put_metric_data(
        Namespace=settings.cloudwatch_namespace,
        MetricData=metric_data(metrics, settings.scaler_service_name),
    )


def publish_trainings(cloudwatch: Any, settings: Settings, metrics: TrainingMetrics) -> None:
    """Send one train-queue measurement to CloudWatch (dimension ``Service=worker-train``)."""
    cloudwatch.put_metric_data(
        Namespace=settings.cloudwatch_namespace,
        MetricData=training_metric_data(metrics, TRAIN_SERVICE),
    )


def expose(metrics: QueueMetrics) -> None:
    """Show the last measurement on the scaler's Prometheus endpoint."""
    for name, value in {**asdict(metrics), "backlog_per_task": metrics.backlog_per_task}.items():
        GAUGES[name].set(value)


def expose_trainings(metrics: TrainingMetrics) -> None:
    """Show the last train-queue measurement on the scaler's Prometheus endpoint."""
    for name, value in asdict(metrics).items():
        TRAIN_GAUGES[name].set(value)


def run_scaler(ctx: WorkerContext, client: redis.Redis, stop: threading.Event) -> None:
    """Measure and publish every ``QUIRE_SCALER_INTERVAL_SECONDS`` until ``stop``."""
    serve_metrics(ctx.settings.scaler_metrics_port)
    cloudwatch = cloudwatch_client(ctx.settings) if ctx.settings.scaler_publish else None
    while not stop.is_set():
        try:
            metrics = measure(ctx, client)
            expose(metrics)
            log.info(
                "gpu queue: %s backlog_per_task=%.2f", asdict(metrics), metrics.backlog_per_task
            )
            if cloudwatch is not None:
                publish(cloudwatch, ctx.settings, metrics)
            # After the GPU figures, so a failure here never holds back the page scaling.
            trainings = measure_trainings(ctx, client)
            expose_trainings(trainings)
            log.info("train queue: %s", asdict(trainings))
            if cloudwatch is not None:
                publish_trainings(cloudwatch, ctx.settings, trainings)
        except (QuireError, redis.RedisError, BotoCoreError, ClientError, OSError) as e:
            log.warning("scaler pass failed, will retry: %s", e)
        stop.wait(ctx.settings.scaler_interval_seconds)
