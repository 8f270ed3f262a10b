"""Queue depth against real Redis, with real Celery messages sent at every priority step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.celery_config import PRIORITY_STEPS, build_celery
from shared.queue_depth import queue_keys, waiting_messages
from shared.queues import GPU_QUEUE, OCR_PAGE, ocr_page_payload
from shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def send_pages(redis_url: str, tmp_path: Path, counts: dict[int, int]) -> int:
    """Send ``counts[priority]`` ocr_page messages at each priority; return the total."""
    app = build_celery(Settings(redis_url=redis_url, data_dir=tmp_path))
    try:
        for priority, count in counts.items():
            for page in range(count):
                app.send_task(
                    OCR_PAGE,
                    kwargs=ocr_page_payload(f"job-{priority}", page),
                    queue=GPU_QUEUE,
                    priority=priority,
                )
    finally:
        app.close()
    return sum(counts.values())


def test_queue_keys_name_every_priority_step() -> None:
    assert PRIORITY_STEPS == [0, 3, 6, 9]
    assert queue_keys("gpu") == ["gpu", "gpu\x06\x163", "gpu\x06\x166", "gpu\x06\x169"]


def test_empty_queue_has_no_waiting_messages(client: redis.Redis) -> None:
    assert waiting_messages(client, GPU_QUEUE) == 0


@pytest.mark.parametrize(
    "counts",
    [
        {0: 3, 3: 2, 6: 4, 9: 1},
        {6: 5},  # bulk only: the plain key is empty
        {0: 2},  # interactive only: the plain key holds everything
        {1: 1, 4: 2, 7: 3},  # kombu rounds each priority down to its step (1 -> 0)
    ],
)
def test_waiting_messages_counts_every_priority(
    client: redis.Redis, redis_url: str, tmp_path: Path, counts: dict[int, int]
) -> None:
    sent = send_pages(redis_url, tmp_path, counts)

    plain = sum(count for priority, count in counts.items() if priority < PRIORITY_STEPS[1])
    assert waiting_messages(client, GPU_QUEUE) == sent
    assert client.llen(GPU_QUEUE) == plain
    if plain < sent:
        assert client.llen(GPU_QUEUE) < waiting_messages(client, GPU_QUEUE)  # would undercount


def test_every_message_sits_under_one_of_the_queue_keys(
    client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    send_pages(redis_url, tmp_path, {0: 1, 3: 1, 6: 1, 9: 1})

    keys = {key.decode() for key in client.scan_iter() if client.type(key) == b"list"}
    assert keys == set(queue_keys(GPU_QUEUE))
    assert [client.llen(key) for key in queue_keys(GPU_QUEUE)] == [1, 1, 1, 1]


def test_other_queues_are_not_counted(client: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    send_pages(redis_url, tmp_path, {0: 2, 6: 2})

    assert waiting_messages(client, "cpu") == 0
    assert waiting_messages(client, GPU_QUEUE) == 4
