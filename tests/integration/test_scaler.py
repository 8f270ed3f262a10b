"""Heartbeats, the scaler's measurement, and its CloudWatch metrics on a moto server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import redis
from prometheus_client import REGISTRY

from shared.celery_config import build_celery
from shared.db.models import Job, Page, PageStatus, Training, TrainingStatus
from shared.db.session import transaction
from shared.queues import (
    OCR_PAGE,
    RUN_TRAINING,
    TRAIN_QUEUE,
    ocr_page_payload,
    run_training_payload,
)
from shared.redis_client import redis_from_url
from shared.settings import Settings
from shared.tenancy import ensure_tenant
from worker.context import WorkerContext
from worker.heartbeat import InFlight, beat, read_fleet, start_heartbeat
from worker.scaling.scaler import (
    TRAIN_SERVICE,
    expose,
    expose_trainings,
    measure,
    measure_trainings,
    publish,
    publish_trainings,
    run_scaler,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(
    make_settings: Callable[..., Settings], database_url: str, redis_url: str, s3_endpoint: str
) -> Iterator[WorkerContext]:
    settings = make_settings(
        database_url=database_url,
        redis_url=redis_url,
        cloudwatch_endpoint_url=s3_endpoint,
        scaler_service_name="gpu-test",
    )
    context = WorkerContext.build(settings, producer=build_celery(settings))
    yield context
    context.close()


def test_heartbeats_count_running_and_busy_workers(redis_url: str) -> None:
    client = redis_from_url(redis_url)
    beat(client, "gpu", "a", 0)
    beat(client, "gpu", "b", 3)
    beat(client, "cpu", "c", 1)
    assert read_fleet(client, "gpu").running == 2
    assert read_fleet(client, "gpu").busy == 1
    assert 0 < int(client.ttl("quire:workers:gpu:a")) <= 30


def test_a_draining_worker_is_busy_but_not_ready(redis_url: str) -> None:
    client = redis_from_url(redis_url)
    beat(client, "gpu", "a", 0)
    beat(client, "gpu", "b", 2, draining=True)
    beat(client, "gpu", "c", 0, draining=True)
    fleet = read_fleet(client, "gpu")
    assert fleet.running == 1 and fleet.busy == 1


def test_heartbeat_thread_reports_pages_and_leaves_on_stop(redis_url: str) -> None:
    client = redis_from_url(redis_url)
    pages, stop = InFlight(), threading.Event()
    pages.add(2)
    thread = start_heartbeat(client, "gpu", "w1", pages, stop, interval=0.05)
    time.sleep(0.2)
    assert client.get("quire:workers:gpu:w1") == b"2"
    stop.set()
    thread.join(5)
    assert read_fleet(client, "gpu").running == 0


def test_measure_and_publish(ctx: WorkerContext, redis_url: str, s3_endpoint: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with transaction(ctx.sessions) as session:
        job = Job(
            tenant_id=ensure_tenant(session, "scaler").id, source_key="k", media_type="image/png"
        )
        session.add(job)
        session.flush()
        for index, status in enumerate([PageStatus.RUNNING, PageStatus.RUNNING, PageStatus.QUEUED]):
            session.add(Page(job_id=job.id, index=index, image_key="k", status=status.value))
    for priority in (0, 6):  # an interactive and a bulk page
        ctx.producer.send_task(
            OCR_PAGE, kwargs=ocr_page_payload("j", 0), queue="gpu", priority=priority
        )
    beat(client, "gpu", "w1", 1)
    metrics = measure(ctx, client)
    assert metrics.backlog == 2 and metrics.running_workers == 1 and metrics.busy_workers == 1
    assert metrics.in_flight >= 2 and metrics.backlog_per_task == 2.0

    cloudwatch: Any = boto3.client(
        "cloudwatch",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    publish(cloudwatch, ctx.settings, metrics)
    expose(metrics)
    assert REGISTRY.get_sample_value("quire_gpu_queue_backlog_per_task") == 2.0
    assert REGISTRY.get_sample_value("quire_gpu_queue_busy_workers") == 1.0
    names = {
        m["MetricName"]
        for m in cloudwatch.list_metrics(
            Namespace="Quire", Dimensions=[{"Name": "Service", "Value": "gpu-test"}]
        )["Metrics"]
    }
    assert names == {"Backlog", "InFlight", "RunningWorkers", "BusyWorkers", "BacklogPerTask"}


def test_trainings_need_one_worker_each_queued_or_running(
    ctx: WorkerContext, redis_url: str, s3_endpoint: str
) -> None:
    """A running training's message is unacked, not waiting: the queue's depth alone would
    let the train service scale in under it, so the count comes from the database."""
    client = redis.Redis.from_url(redis_url)
    with transaction(ctx.sessions) as session:
        tenant_id = ensure_tenant(session, "scaler-train").id
        statuses = [
            TrainingStatus.RUNNING,
            TrainingStatus.RUNNING,
            TrainingStatus.QUEUED,
            TrainingStatus.SUCCEEDED,
            TrainingStatus.FAILED,
            TrainingStatus.CANCELED,
        ]
        for status in statuses:
            session.add(
                Training(
                    tenant_id=tenant_id,
                    kind="recognizer",
                    family="crnn",
                    name="m",
                    status=status.value,
                )
            )
    for priority in (0, 6):  # the queued training's message and a duplicate, at two priorities
        ctx.producer.send_task(
            RUN_TRAINING, kwargs=run_training_payload("t"), queue=TRAIN_QUEUE, priority=priority
        )
    metrics = measure_trainings(ctx, client)
    assert (metrics.backlog, metrics.in_flight, metrics.workers_needed) == (2, 2, 3)

    cloudwatch: Any = boto3.client(
        "cloudwatch",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    publish_trainings(cloudwatch, ctx.settings, metrics)
    expose_trainings(metrics)
    assert REGISTRY.get_sample_value("quire_train_queue_workers_needed") == 3.0
    listed = cloudwatch.list_metrics(
        Namespace="Quire", Dimensions=[{"Name": "Service", "Value": TRAIN_SERVICE}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} == {"Backlog", "InFlight", "WorkersNeeded"}
    # The GPU queue's figures are not disturbed by the trainings.
    assert measure(ctx, client).backlog == 0


def test_a_scaler_pass_publishes_both_queues(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "test")
    settings = make_settings(
        database_url=database_url,
        redis_url=redis_url,
        cloudwatch_endpoint_url=s3_endpoint,
        cloudwatch_namespace="QuirePass",
        scaler_publish=True,
        scaler_metrics_port=0,
        scaler_interval_seconds=0.1,
    )
    context = WorkerContext.build(settings, producer=build_celery(settings))
    cloudwatch: Any = boto3.client(
        "cloudwatch",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def services() -> set[str]:
        listed = cloudwatch.list_metrics(Namespace="QuirePass")["Metrics"]
        return {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Service"}

    stop = threading.Event()
    thread = threading.Thread(
        target=run_scaler, args=(context, redis.Redis.from_url(redis_url), stop), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while services() != {"worker-gpu", TRAIN_SERVICE} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert services() == {"worker-gpu", TRAIN_SERVICE}
    finally:
        stop.set()
        thread.join(5)
        context.close()
