"""The API's task sender against real Redis: its message is the one Celery sends, and a real
Celery worker consumes and runs it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from shared.celery_config import build_celery
from shared.queue_depth import queue_keys
from shared.queues import GPU_QUEUE, OCR_PAGE, ocr_page_payload
from shared.settings import Settings
from shared.task_sender import TaskSender

pytestmark = pytest.mark.integration
# Differ between any two messages; everything else must match Celery's.
PER_MESSAGE_HEADERS = {"id", "root_id", "origin"}
PER_MESSAGE_PROPERTIES = {"correlation_id", "reply_to", "delivery_tag"}


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[Celery]:
    celery_app = build_celery(Settings(redis_url=redis_url, data_dir=tmp_path))
    yield celery_app
    celery_app.close()


def pop_message(client: redis.Redis, queue: str) -> tuple[str, dict]:
    """The one message waiting in ``queue``, and the list it was on."""
    found = [(key, client.rpop(key)) for key in queue_keys(queue)]
    [(key, raw)] = [(key, raw) for key, raw in found if raw is not None]
    return key, json.loads(raw)


@pytest.mark.parametrize("priority", [0, 6])
def test_the_message_is_the_one_celery_sends(
    app: Celery, redis_client: redis.Redis, redis_url: str, priority: int
) -> None:
    payload = ocr_page_payload("job-1", 3)
    app.send_task(OCR_PAGE, kwargs=payload, queue=GPU_QUEUE, priority=priority)
    celery_key, celery_message = pop_message(redis_client, GPU_QUEUE)
    sender = TaskSender.from_url(redis_url)
    sender.send(OCR_PAGE, payload, GPU_QUEUE, priority)
    sender.close()
    our_key, our_message = pop_message(redis_client, GPU_QUEUE)

    assert our_key == celery_key
    assert our_message.keys() == celery_message.keys()
    for part, varying in (
        ("headers", PER_MESSAGE_HEADERS),
        ("properties", PER_MESSAGE_PROPERTIES),
    ):
        assert our_message[part].keys() == celery_message[part].keys()
        for name in our_message[part].keys() - varying:
            assert our_message[part][name] == celery_message[part][name], (part, name)
    assert base64.b64decode(our_message["body"]) == base64.b64decode(celery_message["body"])


def test_a_celery_worker_runs_the_task(app: Celery, redis_url: str) -> None:
    ran: list[dict[str, object]] = []
    done = threading.Event()

    @app.task(name=OCR_PAGE, shared=False)
    def record(**kwargs: object) -> None:
        ran.append(kwargs)
        done.set()

    sender = TaskSender.from_url(redis_url)
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[GPU_QUEUE]):
        sender.send(OCR_PAGE, ocr_page_payload("job-2", 0), GPU_QUEUE, 6)
        assert done.wait(30), "the worker did not run the task"
    sender.close()
    assert ran == [ocr_page_payload("job-2", 0)]
