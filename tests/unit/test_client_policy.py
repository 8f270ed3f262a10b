"""The client's pure rules: waits, formats, exit codes, summaries, where the key comes from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quire_client.formats import FORMATS, parse_formats, result_file_name
from quire_client.main import resolve_api_key, resolve_url
from quire_client.models import Batch, Job
from quire_client.retry import (
    MAX_RETRY_AFTER_SECONDS,
    backoff_seconds,
    poll_delay,
    retry_after_seconds,
    retry_wait,
)
from quire_client.summary import bar_postfix, describe, final_line, format_duration, percent
from quire_client.waiting import exit_code_for

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Wed, 01 Jan 2025 12:00:30 GMT", 30.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),  # a date in the past: now
        ("soon", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]
)
def test_backoff_doubles_up_to_its_cap(attempt: int, expected: float) -> None:
    assert backoff_seconds(attempt) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [(1, None, 0.5), (3, None, 2.0), (1, 7.0, 7.0), (1, 0.0, 0.0), (1, 3600.0, 60.0)],
)
def test_retry_wait_prefers_the_server_bounded(
    attempt: int, retry_after: float | None, expected: float
) -> None:
    assert retry_wait(attempt, retry_after) == expected
    assert MAX_RETRY_AFTER_SECONDS == 60.0


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(None, 1.0), (0.0, 0.0), (2.0, 2.0), (5.0, 5.0), (30.0, 5.0)]
)
def test_poll_delay_honours_retry_after_up_to_five_seconds(
    retry_after: float | None, expected: float
) -> None:
    assert poll_delay(retry_after) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("json", ["json"]),
        ("txt,alto", ["txt", "alto"]),
        (" TXT , txt,hocr ", ["txt", "hocr"]),
        ("pdf,json", ["pdf", "json"]),
        ("all", list(FORMATS)),
        ("txt,all", list(FORMATS)),
    ],
)
def test_parse_formats(text: str, expected: list[str]) -> None:
    assert parse_formats(text) == expected


@pytest.mark.parametrize("text", ["", " , ", "docx", "txt,docx"])
def test_parse_formats_refuses_unknown_or_empty(text: str) -> None:
    with pytest.raises(ValueError):
        parse_formats(text)


@pytest.mark.parametrize(
    ("stem", "fmt", "page", "expected"),
    [
        ("a.png", "json", None, "a.png.json"),
        ("a.png", "hocr", None, "a.png.hocr.html"),
        ("scan.pdf", "alto", None, "scan.pdf.alto.xml"),
        ("scan.pdf", "pagexml", None, "scan.pdf.page.xml"),
        ("scan.pdf", "pagexml", 2, "scan.pdf.p0002.page.xml"),
        ("scan.jpg", "pdf", None, "scan.jpg.pdf"),
    ],
)
def test_result_file_name(stem: str, fmt: str, page: int | None, expected: str) -> None:
    assert result_file_name(stem, fmt, page) == expected


@pytest.mark.parametrize(
    ("status", "code"),
    [("succeeded", 0), ("partial", 3), ("failed", 4), ("canceled", 4), ("unknown", 4)],
)
def test_exit_code_for(status: str, code: int) -> None:
    assert exit_code_for(status) == code


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0, "0s"), (7, "7s"), (59.6, "1m00s"), (320, "5m20s"), (3725, "1h02m")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def _batch(**changes: Any) -> Batch:
    body = {
        "id": "b1",
        "status": "running",
        "filename": "scans.zip",
        "items_total": 40,
        "items_skipped": 2,
        "jobs": {"queued": 10, "running": 3, "succeeded": 25, "failed": 2},
        "pages_total": 300,
        "pages_done": 120,
        "pages_failed": 3,
        "progress": 0.41,
        "eta_seconds": 320,
        "error": None,
        **changes,
    }
    return Batch.from_json(body)


def _job(**changes: Any) -> Job:
    body = {"id": "j1", "status": "running", "filename": "a.pdf", "pages_total": 4}
    body.update(pages_done=1, pages_failed=1, error=None)
    return Job.from_json({**body, **changes})


def test_describe_a_running_batch() -> None:
    assert describe(_batch()).splitlines() == [
        "batch b1 (scans.zip): running",
        "  items: 40 (2 skipped)",
        "  jobs: 10 queued, 3 running, 25 succeeded, 2 failed",
        "  pages: 120 done, 3 failed, 300 in all (41.0%)",
        "  eta: 5m20s",
    ]


def test_describe_a_failed_job_says_why() -> None:
    job = _job(status="failed", error={"code": "corrupt_document", "message": "bad xref"})
    assert describe(job).splitlines() == [
        "job j1 (a.pdf): failed",
        "  pages: 1 done, 1 failed, 4 in all (50.0%)",
        "  error: corrupt_document: bad xref",
    ]


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (_job(), 50.0),
        (_job(pages_total=0, pages_done=0, pages_failed=0), 0.0),
        (_job(status="failed", pages_total=0, pages_done=0, pages_failed=0), 100.0),
    ],
)
def test_percent_of_a_job(job: Job, expected: float) -> None:
    assert percent(job) == expected


def test_bar_postfix_and_final_line() -> None:
    assert bar_postfix(_batch()) == (
        "running; items 40 (2 skipped); jobs 10 queued, 3 running, 25 succeeded, 2 failed; "
        "eta 5m20s"
    )
    assert final_line(_batch(status="partial")) == (
        "batch b1: partial; 120 of 300 pages done, 3 failed; 40 items, 2 skipped"
    )


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        ("http://a:1", {"QUIRE_URL": "http://b:2"}, "http://a:1"),
        (None, {"QUIRE_URL": "http://b:2"}, "http://b:2"),
        (None, {}, "http://127.0.0.1:8000"),
    ],
)
def test_resolve_url(given: str | None, environ: dict[str, str], expected: str) -> None:
    assert resolve_url(given, environ) == expected


def test_resolve_api_key_order(tmp_path: Path) -> None:
    (tmp_path / ".quire").mkdir()
    (tmp_path / ".quire" / "dev-api-key").write_text("dev-key\n")
    assert resolve_api_key("flag", {"QUIRE_API_KEY": "env"}, tmp_path) == "flag"
    assert resolve_api_key(None, {"QUIRE_API_KEY": "env"}, tmp_path) == "env"
    assert resolve_api_key(None, {}, tmp_path) == "dev-key"
    assert resolve_api_key(None, {}, tmp_path / "elsewhere") is None
