"""Reading Celery messages back out of Redis, and choosing what is missing (pure functions)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from shared.queues import INGEST_BATCH, OCR_PAGE, PREPARE_JOB
from worker.reconcile import (
    WorkKey,
    decode_envelope,
    decode_message,
    decode_unacked,
    select_missing,
    work_key,
)


def envelope(body: Any, task: str | None = OCR_PAGE, encoding: str = "base64") -> dict[str, Any]:
    raw = json.dumps(body).encode()
    return {
        "body": base64.b64encode(raw).decode() if encoding == "base64" else raw.decode(),
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {"task": task} if task else {},
        "properties": {"body_encoding": encoding, "delivery_tag": "t1"},
    }


PAGE_KWARGS = {"v": 1, "job_id": "j1", "page_index": 2}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (envelope([[], PAGE_KWARGS, {}]), (OCR_PAGE, PAGE_KWARGS)),
        (envelope([[1, "j1", 2], {}, {}]), (OCR_PAGE, PAGE_KWARGS)),
        (envelope([[], PAGE_KWARGS, {}], encoding="utf-8"), (OCR_PAGE, PAGE_KWARGS)),
        (
            envelope({"task": PREPARE_JOB, "args": [1, "j9"], "kwargs": {}}, task=None),
            (PREPARE_JOB, {"v": 1, "job_id": "j9"}),
        ),
        (
            {**envelope([[], PAGE_KWARGS, {}]), "content-type": "application/x-python-serialize"},
            None,
        ),
        ({**envelope([[], PAGE_KWARGS, {}]), "body": "%%%not base64"}, None),
        (envelope("just a string"), None),
        (envelope([[], PAGE_KWARGS, {}], task=None), None),
    ],
    ids=[
        "kwargs",
        "positional",
        "plain-body",
        "protocol-1",
        "pickle",
        "bad-base64",
        "str",
        "no-task",
    ],
)
def test_decode_envelope(message: dict[str, Any], expected: tuple[str, dict] | None) -> None:
    assert decode_envelope(message) == expected


def test_list_and_unacked_forms_decode_alike() -> None:
    message = envelope([[], PAGE_KWARGS, {}])
    assert decode_message(json.dumps(message)) == (OCR_PAGE, PAGE_KWARGS)
    assert decode_unacked(json.dumps([message, "gpu", "gpu"])) == (OCR_PAGE, PAGE_KWARGS)
    assert decode_message(b"not json") is None
    assert decode_unacked(json.dumps({"not": "a list"})) is None


@pytest.mark.parametrize(
    ("task", "kwargs", "expected"),
    [
        (OCR_PAGE, PAGE_KWARGS, WorkKey(OCR_PAGE, "j1", 2)),
        (OCR_PAGE, {"job_id": "j1", "page_index": True}, None),
        (OCR_PAGE, {"job_id": "j1"}, None),
        (PREPARE_JOB, {"job_id": "j1"}, WorkKey(PREPARE_JOB, "j1")),
        (INGEST_BATCH, {"batch_id": "b1"}, WorkKey(INGEST_BATCH, "b1")),
        ("quire.deliver_webhook", {"delivery_id": "d1"}, None),
    ],
)
def test_work_key(task: str, kwargs: dict[str, Any], expected: WorkKey | None) -> None:
    assert work_key(task, kwargs) == expected


@dataclass(frozen=True)
class Ref:
    n: int

    @property
    def key(self) -> WorkKey:
        return WorkKey(PREPARE_JOB, f"j{self.n}")


@pytest.mark.parametrize(
    ("present", "limit", "chosen", "capped"),
    [
        (set(), 10, [0, 1, 2, 3], False),
        ({1, 3}, 10, [0, 2], False),
        (set(), 2, [0, 1], True),
        ({0, 1, 2, 3}, 2, [], False),
        ({0}, 3, [1, 2, 3], False),
    ],
)
def test_select_missing(present: set[int], limit: int, chosen: list[int], capped: bool) -> None:
    refs = [Ref(n) for n in range(4)]
    keys = {Ref(n).key for n in present}
    got, more = select_missing(refs, keys, limit)
    assert [r.n for r in got] == chosen and more is capped
