"""The API client: problem+json to errors, 429/503 retried after Retry-After, no key leaks."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from quire_client.api import QuireApi
from quire_client.errors import ApiError, ServerUnreachable, TransportFailed
from quire_client.models import Batch, Job
from quire_client.streams import CountedBody
from tests.unit.test_client_fakeserver import API_KEY, FakeQuire, problem


def _api(fake: FakeQuire, sleeps: list[float] | None = None, key: str = API_KEY) -> QuireApi:
    record = sleeps.append if sleeps is not None else (lambda _s: None)
    return QuireApi(fake.base_url, key, transport=fake.transport(), sleep=record)


def test_problem_json_becomes_api_error() -> None:
    fake = FakeQuire()
    with _api(fake) as api, pytest.raises(ApiError) as caught:
        api.get_job("nope")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert str(caught.value) == "not_found: no job 'nope'"
    assert not caught.value.retryable


def test_a_wrong_key_is_unauthorized() -> None:
    with _api(FakeQuire(), key="wrong") as api, pytest.raises(ApiError) as caught:
        api.get_batch("b1")
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_a_non_problem_error_still_has_a_code() -> None:
    fake = FakeQuire()
    fake.faults[("GET", r"/v1/jobs/.*")] = [httpx.Response(502, text="<html>bad gateway</html>")]
    with _api(fake) as api, pytest.raises(ApiError) as caught:
        api.get_job("j1")
    assert (caught.value.code, caught.value.detail) == ("http_502", "Bad Gateway")
    assert caught.value.retryable


def test_429_and_503_are_retried_after_retry_after() -> None:
    fake = FakeQuire()
    job_id = fake._new_job("a.png", None, {})
    fake.faults[("GET", rf"/v1/jobs/{job_id}")] = [
        problem(429, "rate_limited", "slow down", **{"Retry-After": "2"}),
        problem(503, "database_unavailable", "db down", **{"Retry-After": "5"}),
        problem(503, "broker_unavailable", "no header"),
    ]
    sleeps: list[float] = []
    with _api(fake, sleeps) as api:
        job = api.get_job(job_id)
    assert job.id == job_id
    assert sleeps == [2.0, 5.0, 2.0]  # the third had no header: backoff of attempt 3
    assert len(fake.calls("GET", "/v1/jobs/")) == 4


def test_retries_are_bounded() -> None:
    fake = FakeQuire()
    fake.faults[("GET", r"/v1/batches/b1")] = [
        problem(503, "store_unavailable", "down", **{"Retry-After": "1"}) for _ in range(10)
    ]
    sleeps: list[float] = []
    with _api(fake, sleeps) as api, pytest.raises(ApiError) as caught:
        api.get_batch("b1")
    assert caught.value.code == "store_unavailable"
    assert sleeps == [1.0] * 4
    assert len(fake.calls("GET")) == 5


def test_connection_refused_is_server_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        QuireApi(f"http://127.0.0.1:{port}", API_KEY, timeout=5) as api,
        pytest.raises(ServerUnreachable, match="cannot connect"),
    ):
        api.get_job("j1")


def test_a_broken_connection_is_retryable() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    with (
        QuireApi("http://q", transport=httpx.MockTransport(broken)) as api,
        pytest.raises(TransportFailed) as caught,
    ):
        api.get_batch("b1")
    assert caught.value.retryable


def test_get_resource_falls_back_from_jobs_to_batches() -> None:
    fake = FakeQuire()
    job_id = fake._new_job("a.png", None, {})
    fake.batches["b7"] = {"id": "b7", "status": "running", "items": [], "priority": "bulk"}
    fake.batches["b7"].update(filename="x.zip", metadata={})
    with _api(fake) as api:
        assert isinstance(api.get_resource(job_id), Job)
        assert isinstance(api.get_resource("b7"), Batch)
        assert isinstance(api.get_resource("batch:b7"), Batch)
        assert isinstance(api.get_resource(f"job:{job_id}"), Job)
        with pytest.raises(ApiError):
            api.get_resource("job:b7")  # an explicit kind does not fall back
    assert fake.calls("GET")[-1] == "/v1/jobs/b7"


def test_submit_job_streams_a_multipart_form(tmp_path: Path) -> None:
    path = tmp_path / 'odd "name".png'
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 9000  # several chunks
    path.write_bytes(data)
    fake = FakeQuire()
    progress: list[int] = []
    fields = {"priority": "bulk", "metadata": '{"k": "v"}'}
    with _api(fake) as api:
        job = api.submit_job(path, fields=fields, media_type="image/png", on_bytes=progress.append)
    assert fake.job_files[job.id] == data
    assert fake.job_fields[job.id] == fields
    assert fake.jobs[job.id]["filename"] == "odd %22name%22.png"
    assert sum(progress) == len(data) and len(progress) > 1


def test_a_retried_submit_counts_its_bytes_once(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 5000)
    fake = FakeQuire()
    fake.faults[("POST", r"/v1/jobs")] = [problem(503, "broker_unavailable", "later")]
    progress: list[int] = []
    with _api(fake) as api:
        job = api.submit_job(path, fields={}, on_bytes=progress.append)
    assert sum(progress) == path.stat().st_size
    assert fake.job_files[job.id] == path.read_bytes()
    assert any(n < 0 for n in progress)  # the failed attempt was taken back


def test_part_uploads_never_carry_the_api_key(tmp_path: Path) -> None:
    fake = FakeQuire(part_size=10)
    with _api(fake) as api:
        upload = api.create_upload("a.zip", 10, "application/zip")
        part = upload.parts[0]
        etag = api.put_part(part.url, part.headers, CountedBody(lambda: iter([b"0123456789"])), 10)
    assert etag.startswith('"')
    assert fake.calls("PUT") == [f"/store/{upload.id}/1"]
    assert fake.store_auth_seen == []
