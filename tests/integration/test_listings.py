"""``GET /v1/jobs`` and ``GET /v1/batches``: newest first, filters, cursors, tenant scope."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from shared.db.models import Batch, Job
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (shade, shade, shade)).save(out, "PNG")
    return out.getvalue()


def submit(client: TestClient, key: str, n: int, metadata: dict[str, Any]) -> str:
    answer = client.post(
        "/v1/jobs",
        headers=auth(key),
        files={"file": (f"p{n}.png", png(n), "image/png")},
        data={"metadata": json.dumps(metadata)},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def set_rows(settings: Settings, table: Any, row_id: str, **values: Any) -> None:
    """Give a row a known creation time or status (the API sets them from the clock)."""
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(update(table).where(table.id == row_id).values(**values))
    engine.dispose()


def every_page(client: TestClient, key: str, path: str, **params: Any) -> list[list[str]]:
    """The ids of each page of a listing, following ``next_cursor`` to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = client.get(path, headers=auth(key), params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ended"


@pytest.fixture
def five_jobs(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> tuple[str, list[str]]:
    """A tenant's key and five jobs made an hour apart, oldest first; two shelves."""
    key = new_key(f"list-{uuid.uuid4().hex[:6]}")
    ids = []
    for n in range(5):
        job_id = submit(client, key, n, {"shelf": "A" if n % 2 == 0 else "B", "n": n})
        set_rows(settings, Job, job_id, created_at=BASE + timedelta(hours=n))
        ids.append(job_id)
    set_rows(settings, Job, ids[1], status="failed")
    return key, ids


def test_jobs_come_newest_first_a_page_at_a_time(
    client: TestClient, five_jobs: tuple[str, list[str]]
) -> None:
    key, ids = five_jobs
    pages = every_page(client, key, "/v1/jobs", limit=2)
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    first = client.get("/v1/jobs", headers=auth(key)).json()
    assert first["next_cursor"] is None
    assert [j["id"] for j in first["items"]] == ids[::-1]
    assert first["items"][0]["metadata"] == {"shelf": "A", "n": 4}


def test_a_job_made_after_the_first_page_does_not_shift_the_next(
    client: TestClient, five_jobs: tuple[str, list[str]], settings: Settings
) -> None:
    key, ids = five_jobs
    page = client.get("/v1/jobs", headers=auth(key), params={"limit": 2}).json()
    newer = submit(client, key, 9, {})
    set_rows(settings, Job, newer, created_at=BASE + timedelta(days=1))
    rest = client.get(
        "/v1/jobs", headers=auth(key), params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [j["id"] for j in rest["items"]] == [ids[2], ids[1]]


def test_job_filters_combine(client: TestClient, five_jobs: tuple[str, list[str]]) -> None:
    key, ids = five_jobs

    def listed(**params: Any) -> list[str]:
        answer = client.get("/v1/jobs", headers=auth(key), params=params)
        assert answer.status_code == 200, answer.text
        return [j["id"] for j in answer.json()["items"]]

    assert listed(status="failed") == [ids[1]]
    assert listed(status="queued,failed") == ids[::-1]
    assert listed(status=["queued"]) == [ids[4], ids[3], ids[2], ids[0]]
    assert listed(metadata="shelf=A") == [ids[4], ids[2], ids[0]]
    assert listed(metadata=["shelf=A", "n=2"]) == [ids[2]]  # a number matches its spelling
    assert listed(metadata=["shelf=B", "n=2"]) == []
    assert listed(metadata="shelf=C") == []
    after = (BASE + timedelta(hours=1)).isoformat()
    before = (BASE + timedelta(hours=3)).isoformat()
    assert listed(created_after=after, created_before=before) == [ids[2], ids[1]]
    assert listed(created_after=after, metadata="shelf=B", status="queued") == [ids[3]]
    # A time without a zone is UTC.
    assert listed(created_before="2026-03-01T13:00:00") == [ids[0]]


def test_another_tenants_jobs_are_never_listed(
    client: TestClient, five_jobs: tuple[str, list[str]], new_key: Callable[[str], str]
) -> None:
    other = new_key(f"other-{uuid.uuid4().hex[:6]}")
    assert client.get("/v1/jobs", headers=auth(other)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert client.get("/v1/batches", headers=auth(other)).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "done"}, "unknown status 'done'"),
        ({"metadata": "shelf"}, "not key=value"),
        ({"metadata": "sh elf=A"}, "not key=value"),
        ({"cursor": "not-a-cursor"}, "invalid cursor"),
        (
            {"created_after": "2026-03-02T00:00:00Z", "created_before": "2026-03-01T00:00:00Z"},
            "earlier than",
        ),
    ],
)
def test_bad_listing_parameters_are_422_with_a_reason(
    client: TestClient, new_key: Callable[[str], str], params: dict[str, str], fragment: str
) -> None:
    key = new_key("bad-list")
    for path in ("/v1/jobs", "/v1/batches"):
        answer = client.get(path, headers=auth(key), params=params)
        assert answer.status_code == 422, answer.text
        assert fragment in answer.json()["detail"], answer.json()


def test_a_cursor_of_one_listing_is_refused_by_another(
    client: TestClient, five_jobs: tuple[str, list[str]]
) -> None:
    key, _ = five_jobs
    cursor = client.get("/v1/jobs", headers=auth(key), params={"limit": 1}).json()["next_cursor"]
    answer = client.get("/v1/batches", headers=auth(key), params={"cursor": cursor})
    assert answer.status_code == 422 and "invalid cursor" in answer.json()["detail"]


def test_jobs_of_one_batch_and_batches_listed_with_their_counts(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    key = new_key(f"batches-{uuid.uuid4().hex[:6]}")
    made = []
    for n in range(3):
        files = [("files", (f"b{n}-{i}.png", png(10 * n + i), "image/png")) for i in range(2)]
        answer = client.post(
            "/v1/batches",
            headers=auth(key),
            files=files,
            data={"metadata": json.dumps({"box": str(n)})},
        )
        assert answer.status_code == 202, answer.text
        made.append(answer.json()["id"])
        set_rows(settings, Batch, made[-1], created_at=BASE + timedelta(minutes=n))
    assert every_page(client, key, "/v1/batches", limit=2) == [[made[2], made[1]], [made[0]]]
    listing = client.get("/v1/batches", headers=auth(key), params={"metadata": "box=1"}).json()
    assert [b["id"] for b in listing["items"]] == [made[1]]
    assert listing["items"][0]["jobs"]["queued"] == 2
    assert listing["items"][0]["items_total"] == 2
    running = client.get("/v1/batches", headers=auth(key), params={"status": "running"}).json()
    assert len(running["items"]) == 3
    jobs = client.get("/v1/jobs", headers=auth(key), params={"batch_id": made[1]}).json()
    assert {j["filename"] for j in jobs["items"]} == {"b1-0.png", "b1-1.png"}
    assert all(j["batch_id"] == made[1] for j in jobs["items"])
