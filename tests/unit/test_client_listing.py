"""``quire jobs`` and ``quire batches``: cursors followed, rows capped, filters sent."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx

from quire_client.main import run

ROWS = [
    {
        "id": f"job-{n:02d}",
        "status": "succeeded" if n % 2 else "failed",
        "filename": f"scan{n}.png",
        "pages_total": 2,
        "pages_done": 2,
        "pages_failed": 0,
        "created_at": f"2026-03-01T12:{n:02d}:00Z",
    }
    for n in range(7)
]


def serve(seen: list[httpx.QueryParams]) -> httpx.MockTransport:
    """A listing of seven jobs in pages of ``limit``, the cursor being the next offset."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        start = int(request.url.params.get("cursor", 0))
        size = int(request.url.params["limit"])
        page = ROWS[start : start + size]
        more = start + size < len(ROWS)
        return httpx.Response(
            200, json={"items": page, "next_cursor": str(start + size) if more else None}
        )

    return httpx.MockTransport(handle)


def cli(*args: str) -> tuple[int, str, list[httpx.QueryParams]]:
    seen: list[httpx.QueryParams] = []
    out, err = io.StringIO(), io.StringIO()
    code = run(
        [*args, "--url", "http://quire.test", "--api-key", "k"],
        transport=serve(seen),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue() + err.getvalue(), seen


def test_limit_caps_the_rows_and_the_page_asked_for() -> None:
    code, out, seen = cli("jobs", "--limit", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("id") and len(lines) == 4
    assert lines[1].startswith("job-00  failed   ")
    assert "2/2 pages" in lines[1] and "2026-03-01 12:00:00" in lines[1]
    assert [p["limit"] for p in seen] == ["3"]  # one request, no more rows than shown


def test_all_follows_the_cursor_to_the_last_page() -> None:
    code, out, seen = cli("jobs", "--all", "--json")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [r["id"] for r in ROWS]
    assert len(seen) == 1  # pages of 200: the whole listing at once


def test_filters_are_sent_as_the_api_names_them() -> None:
    code, _, seen = cli(
        "jobs",
        "--status",
        "failed",
        "--status",
        "partial",
        "--metadata",
        "shelf=A",
        "--after",
        "2026-03-01",
        "--before",
        "2026-04-01",
        "--batch",
        "b-1",
        "--limit",
        "2",
    )
    assert code == 0
    first: Any = seen[0]
    assert first.get_list("status") == ["failed", "partial"]
    assert first["metadata"] == "shelf=A" and first["batch_id"] == "b-1"
    assert (first["created_after"], first["created_before"]) == ("2026-03-01", "2026-04-01")


def test_batches_table_and_a_bad_limit() -> None:
    code, out, seen = cli("batches", "--limit", "1")
    assert code == 0 and seen[0].get("batch_id") is None
    assert out.splitlines()[0].split()[:4] == ["id", "status", "items", "done"]
    code, out, _ = cli("jobs", "--limit", "0")
    assert code == 2 and "--limit must be at least 1" in out
