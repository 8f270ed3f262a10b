"""Presigned uploads on the local store (URLs to the API itself) and on a real S3 API (moto):
single and multipart, resume from the parts already stored, completion checks, and a batch
made of the upload."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.batch_inputs import png_bytes, zip_of
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def settings(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    sqlite_database_url: str,
    redis_url: str,
) -> Settings:
    extra: dict[str, Any] = {}
    if request.param == "s3":
        env = request.getfixturevalue("s3_env")
        extra = {k.removeprefix("QUIRE_").lower(): v for k, v in env.items()}
    return make_settings(
        database_url=sqlite_database_url, redis_url=redis_url, upload_part_mb=5, **extra
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def put_part(client: TestClient, part: dict, body: bytes) -> str:
    """PUT a part where the URL says: the API itself (local store) or the S3 server."""
    if part["url"].startswith("http://127.0.0.1:8000/"):
        answer = client.put(part["url"], content=body, headers=part["headers"])
    else:
        answer = httpx.put(part["url"], content=body, headers=part["headers"])
    assert answer.status_code == 200, answer.text
    return answer.headers["ETag"]


def start(client: TestClient, key: str, data: bytes, name: str = "big.zip") -> dict:
    answer = client.post(
        "/v1/uploads",
        headers=auth(key),
        json={"filename": name, "size_bytes": len(data), "content_type": "application/zip"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_multipart_upload_resumes_and_becomes_a_batch(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    key = new_key("uploader")
    filler = {f"noise/{i}.png": png_bytes(f"page {i}") + os.urandom(MIB) for i in range(11)}
    data = zip_of(filler)
    assert len(data) > 10 * MIB
    upload = start(client, key, data)
    parts = upload["parts"]
    assert len(parts) == 3 and upload["part_size"] == 5 * MIB
    assert sum(p["size"] for p in parts) == len(data)

    first = put_part(client, parts[0], data[: parts[0]["size"]])
    # The client stops here; later it asks what is already stored and sends the rest.
    again = client.get(f"/v1/uploads/{upload['id']}", headers=auth(key)).json()
    assert [p["number"] for p in again["uploaded_parts"]] == [1]
    assert again["uploaded_parts"][0]["etag"] == first
    etags = {1: first}
    for part in again["parts"][1:]:
        offset = (part["number"] - 1) * upload["part_size"]
        etags[part["number"]] = put_part(client, part, data[offset : offset + part["size"]])

    missing = client.post(
        f"/v1/uploads/{upload['id']}/complete",
        headers=auth(key),
        json={"parts": [{"number": 1, "etag": first}]},
    )
    assert missing.status_code == 409 and missing.json()["code"] == "upload_incomplete"
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete",
        headers=auth(key),
        json={"parts": [{"number": n, "etag": e} for n, e in sorted(etags.items())]},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"

    batch = client.post("/v1/batches", headers=auth(key), json={"upload_id": upload["id"]})
    assert batch.status_code == 202, batch.text
    assert batch.json()["status"] == "ingesting" and batch.json()["filename"] == "big.zip"


def test_single_part_upload_and_wrong_body(
    client: TestClient, new_key: Callable[[str], str]
) -> None:
    key = new_key("small")
    data = zip_of({"a.png": png_bytes("a")})
    upload = start(client, key, data, "small.zip")
    assert len(upload["parts"]) == 1
    etag = put_part(client, upload["parts"][0], data)
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete",
        headers=auth(key),
        json={"parts": [{"number": 1, "etag": etag}]},
    )
    assert done.status_code == 200, done.text


def test_upload_refusals(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    key = new_key("refused")
    too_big = client.post(
        "/v1/uploads",
        headers=auth(key),
        json={"filename": "x", "size_bytes": settings.max_presigned_upload_gb * 1024**3 + 1},
    )
    assert too_big.status_code == 413
    data = zip_of({"a.png": png_bytes("a")})
    upload = start(client, key, data)
    early = client.post("/v1/batches", headers=auth(key), json={"upload_id": upload["id"]})
    assert early.status_code == 409 and early.json()["code"] == "upload_incomplete"
    other = client.get(f"/v1/uploads/{upload['id']}", headers=auth(new_key("other")))
    assert other.status_code == 404
    unknown = client.post("/v1/batches", headers=auth(key), json={"upload_id": "nope"})
    assert unknown.status_code == 404


def test_local_part_url_is_the_credential(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    if settings.store_backend.value != "local":
        pytest.skip("S3 checks its own signatures")
    key = new_key("signer")
    data = zip_of({"a.png": png_bytes("a")})
    url = start(client, key, data)["parts"][0]["url"]
    forged = url.replace("signature=", "signature=0")
    assert client.put(forged, content=data).status_code == 401
    assert client.put(url, content=data + b"extra").status_code == 413
    assert client.put(url, content=data[:-1]).status_code == 422
