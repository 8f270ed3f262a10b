"""Presigned multipart upload: parts cut as the server says, retried, resumed, completed."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from quire_client.api import QuireApi
from quire_client.errors import ApiError
from quire_client.models import Upload
from quire_client.progress import Progress
from quire_client.state import InputSignature, StateFile, SubmitState
from quire_client.upload import stored_etags, upload_file
from tests.unit.test_client_fakeserver import API_KEY, FakeQuire, etag_of

ZIP = "application/zip"


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "scans.zip"
    path.write_bytes(os.urandom(size))
    return path


def _run_upload(
    fake: FakeQuire, path: Path, state: SubmitState, sleeps: list[float]
) -> tuple[str, StateFile]:
    state_file = StateFile(path.with_name("state.json"))
    with QuireApi(fake.base_url, API_KEY, transport=fake.transport(), sleep=sleeps.append) as api:
        return upload_file(api, path, ZIP, state, state_file, Progress(False)), state_file


def _state(path: Path) -> SubmitState:
    return SubmitState(str(path), "http://quire.test", InputSignature(0, 0))


def test_a_file_larger_than_a_part_is_sent_in_parts_with_one_retry(tmp_path: Path) -> None:
    path = _file(tmp_path, 2500)
    fake = FakeQuire(part_size=1000, fail_part={2: 1})
    sleeps: list[float] = []
    state = _state(path)
    upload_id, state_file = _run_upload(fake, path, state, sleeps)
    upload = fake.uploads[upload_id]
    assert upload.status == "completed" and upload.data == path.read_bytes()
    assert fake.calls("PUT") == [f"/store/{upload_id}/{n}" for n in (1, 2, 2, 3)]
    data = path.read_bytes()
    assert fake.completions == [
        [{"number": n, "etag": etag_of(data[(n - 1) * 1000 : n * 1000])} for n in (1, 2, 3)]
    ]
    assert sleeps == [0.5]  # backoff before the retry of part 2
    assert state.upload_id == upload_id and state.upload_completed
    saved = state_file.load()
    assert saved is not None and saved.upload_completed


def test_a_part_failing_every_time_gives_up_after_four_tries(tmp_path: Path) -> None:
    path = _file(tmp_path, 1500)
    fake = FakeQuire(part_size=1000, fail_part={1: 10})
    sleeps: list[float] = []
    with pytest.raises(ApiError) as caught:
        _run_upload(fake, path, _state(path), sleeps)
    assert caught.value.status == 500
    assert len(fake.calls("PUT")) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert fake.completions == []


def test_a_refused_part_fails_fast(tmp_path: Path) -> None:
    path = _file(tmp_path, 1500)
    fake = FakeQuire(part_size=1000)
    fake.part_answers[1] = [httpx.Response(400, text="<Error>BadDigest</Error>")]
    with pytest.raises(ApiError) as caught:
        _run_upload(fake, path, _state(path), [])
    assert (caught.value.status, caught.value.code) == (400, "http_400")
    assert len(fake.calls("PUT")) == 1
    assert fake.completions == []


def test_an_expired_url_is_renewed(tmp_path: Path) -> None:
    path = _file(tmp_path, 800)
    fake = FakeQuire(part_size=1000)
    fake.part_answers[1] = [httpx.Response(403, text="<Error>Request has expired</Error>")]
    upload_id, _ = _run_upload(fake, path, _state(path), [])
    assert fake.uploads[upload_id].status == "completed"
    assert fake.calls("GET", "/v1/uploads/") == [f"/v1/uploads/{upload_id}"]  # fresh URLs
    assert len(fake.calls("PUT")) == 2


def test_resume_skips_the_parts_the_store_holds(tmp_path: Path) -> None:
    path = _file(tmp_path, 2500)
    fake = FakeQuire(part_size=1000)
    with QuireApi(fake.base_url, API_KEY, transport=fake.transport()) as api:
        upload = api.create_upload("scans.zip", 2500, ZIP)
    fake.uploads[upload.id].parts[1] = path.read_bytes()[:1000]
    fake.uploads[upload.id].parts[3] = b"short"  # a part of the wrong size is resent
    state = _state(path)
    state.upload_id = upload.id
    upload_id, _ = _run_upload(fake, path, state, [])
    assert upload_id == upload.id
    assert fake.calls("PUT") == [f"/store/{upload.id}/2", f"/store/{upload.id}/3"]
    assert fake.uploads[upload.id].data == path.read_bytes()


def test_a_vanished_upload_starts_over(tmp_path: Path) -> None:
    path = _file(tmp_path, 500)
    fake = FakeQuire(part_size=1000)
    state = _state(path)
    state.upload_id = "u-gone"
    upload_id, _ = _run_upload(fake, path, state, [])
    assert upload_id != "u-gone" and state.upload_id == upload_id
    assert fake.calls("GET", "/v1/uploads/") == ["/v1/uploads/u-gone"]


def test_stored_etags_ignores_parts_of_the_wrong_size() -> None:
    upload = Upload.from_json(
        {
            "id": "u1",
            "status": "pending",
            "size_bytes": 2500,
            "part_size": 1000,
            "parts": [
                {"number": n, "url": f"http://s/{n}", "size": size, "headers": {}}
                for n, size in ((1, 1000), (2, 1000), (3, 500))
            ],
            "uploaded_parts": [
                {"number": 1, "etag": '"a"', "size": 1000},
                {"number": 2, "etag": '"b"', "size": 10},
                {"number": 3, "etag": '"c"', "size": 500},
            ],
        }
    )
    assert stored_etags(upload) == {1: '"a"', 3: '"c"'}
