"""The task sender's message and the list it goes on, without a broker."""

from __future__ import annotations

import base64
import json

import pytest

from shared.queue_depth import priority_key
from shared.task_sender import TaskSender


class RecordingRedis:
    """Records ``LPUSH`` calls."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, bytes]] = []

    def lpush(self, key: str, value: bytes) -> int:
        self.pushed.append((key, value))
        return len(self.pushed)


@pytest.mark.parametrize(
    ("priority", "key"),
    [
        (0, "gpu"),
        (1, "gpu"),
        (3, "gpu\x06\x163"),
        (5, "gpu\x06\x163"),
        (6, "gpu\x06\x166"),
        (9, "gpu\x06\x169"),
        (-4, "gpu"),  # clamped to 0..9, as kombu does
        (42, "gpu\x06\x169"),
    ],
)
def test_priority_key_is_the_step_at_or_below(priority: int, key: str) -> None:
    assert priority_key("gpu", priority) == key


def test_send_pushes_a_protocol_2_message_on_the_priority_list() -> None:
    client = RecordingRedis()
    sender = TaskSender(client)  # type: ignore[arg-type]

    task_id = sender.send("quire.ocr_page", {"v": 1, "job_id": "j1", "page_index": 0}, "gpu", 6)

    [(key, raw)] = client.pushed
    assert key == "gpu\x06\x166"
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == "quire.ocr_page"
    assert message["headers"]["id"] == message["headers"]["root_id"] == task_id
    assert message["headers"]["kwargsrepr"] == "{'v': 1, 'job_id': 'j1', 'page_index': 0}"
    props = message["properties"]
    assert props["priority"] == 6 and props["correlation_id"] == task_id
    assert props["delivery_info"] == {"exchange": "", "routing_key": "gpu"}
    assert props["body_encoding"] == "base64"
    args, kwargs, canvas = json.loads(base64.b64decode(message["body"]))
    assert args == [] and kwargs == {"v": 1, "job_id": "j1", "page_index": 0}
    assert canvas == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def test_each_message_has_its_own_ids() -> None:
    client = RecordingRedis()
    sender = TaskSender(client)  # type: ignore[arg-type]
    first = sender.send("quire.prepare_job", {"v": 1, "job_id": "a"}, "cpu", 0)
    second = sender.send("quire.prepare_job", {"v": 1, "job_id": "a"}, "cpu", 0)
    assert first != second
    tags = {json.loads(raw)["properties"]["delivery_tag"] for _, raw in client.pushed}
    assert len(tags) == 2
