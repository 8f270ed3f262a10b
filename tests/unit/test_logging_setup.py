"""JSON logs keep the ids that tie a job's lines together."""

from __future__ import annotations

import json
import logging

import pytest

from shared.logging_setup import JsonFormatter, configure_logging


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "quire.worker", logging.INFO, __file__, 1, "page %s done", ("j1",), None
    )
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_line_has_message_level_and_ids() -> None:
    line = json.loads(JsonFormatter().format(record(job_id="j1", page_index=3)))
    assert line["message"] == "page j1 done"
    assert line["level"] == "INFO" and line["logger"] == "quire.worker"
    assert (line["job_id"], line["page_index"]) == ("j1", 3)
    assert "delivery_id" not in line


def test_exceptions_are_kept() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record()
        rec.exc_info = __import__("sys").exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(rec))["exception"]


@pytest.mark.parametrize(("fmt", "json_expected"), [("json", True), ("text", False)])
def test_configure_logging_installs_one_handler(fmt: str, json_expected: bool) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("WARNING", fmt)
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter) is json_expected
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
