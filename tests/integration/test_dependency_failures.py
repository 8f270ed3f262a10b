"""A database or store that is down gives a 503 problem with Retry-After and leaves nothing
behind; a broker that is down loses nothing: the upload is kept for the sweeper to send."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.integration.conftest import auth
from tests.integration.test_api_jobs import job_count, png

pytestmark = pytest.mark.integration
CLOSED_PORT_REDIS = "redis://127.0.0.1:9/0"


def test_broker_down_submit_is_kept_for_the_sweeper(
    make_settings: Callable[..., Settings],
    database_url: str,
    new_key: Callable[[str], str],
) -> None:
    settings = make_settings(database_url=database_url, redis_url=CLOSED_PORT_REDIS)
    before = job_count(settings)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/jobs",
            headers=auth(new_key("nobroker")),
            files={"file": ("a.png", png(), "image/png")},
        )
        ready = client.get("/readyz")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert job_count(settings) == before + 1  # the row stays: reconcile sends prepare_job
    assert len(list(settings.effective_store_dir.rglob("source.*"))) == 1  # and the object
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"].startswith("error")
    assert ready.json()["checks"]["database"] == "ok"


def test_database_down_is_503(make_settings: Callable[..., Settings], redis_url: str) -> None:
    settings = make_settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2",
        redis_url=redis_url,
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/jobs/abc", headers={"X-API-Key": "qk_x"})
        ready = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["retry-after"]
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")


def test_store_down_submit_is_503_and_no_row(
    make_settings: Callable[..., Settings],
    database_url: str,
    redis_url: str,
    new_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    settings = make_settings(
        database_url=database_url,
        redis_url=redis_url,
        store_backend="s3",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_bucket="b",
        s3_access_key_id="x",
        s3_secret_access_key="x",
    )
    before = job_count(settings)
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/jobs",
            headers=auth(new_key("nostore")),
            files={"file": ("a.png", png(), "image/png")},
        )
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert job_count(settings) == before
