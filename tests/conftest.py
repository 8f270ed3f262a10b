"""Shared fixtures: real PostgreSQL, Redis and an S3 API (moto) on loopback.

A missing service skips the tests that need it locally and fails them under CI=true.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.db.migrate import upgrade
from shared.settings import Settings
from tests.databases import temporary_pg_database

IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def service_missing(what: str) -> None:
    """Skip locally, fail in CI: CI must never pass by skipping the real services."""
    if IN_CI:
        pytest.fail(f"required service missing in CI: {what}")
    pytest.skip(f"service not available: {what}")


@pytest.fixture(autouse=True)
def _clean_quire_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QUIRE_") and not name.startswith("QUIRE_TEST_"):
            monkeypatch.delenv(name)


# --- PostgreSQL and SQLite ---------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("QUIRE_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # any connection failure means the service is missing
        service_missing(f"PostgreSQL at {url}: {e}")
    return url


@pytest.fixture(scope="session")
def pg_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    with temporary_pg_database(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """The name of a migrated database nobody connects to, copied by ``own_pg_database_url``."""
    with temporary_pg_database(pg_admin_url, "quire_template") as url:
        yield str(make_url(url).database)


@pytest.fixture
def own_pg_database_url(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own (a copy of the template, ~0.1 s):
    for processes whose background passes (reclaim, reconcile) act on every row."""
    with temporary_pg_database(pg_admin_url, "quire_own", template=pg_template) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'quire.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "pg"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own (for tests that look at every row), on SQLite
    and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'own.db'}"
        upgrade(url)
        yield url
        return
    yield str(request.getfixturevalue("own_pg_database_url"))


@pytest.fixture(params=["sqlite", "pg"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both SQLite and PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_database_url"))


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    """A Redis database emptied for this test."""
    import redis

    url = os.environ.get("QUIRE_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.flushdb()
        client.close()
    except Exception as e:  # any connection failure means the service is missing
        service_missing(f"Redis at {url}: {e}")
    return url


# --- S3 (moto server on loopback) ---------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto server process for the session (see ``tests/moto_server.py``)."""
    from tests.moto_server import MotoProcess

    server = MotoProcess()
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 client for the moto server."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket on the moto server."""
    name = f"quire-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(s3_endpoint: str, s3_bucket: str) -> dict[str, str]:
    """Settings (as environment variables) for an S3 store on the moto server."""
    return {
        "QUIRE_STORE_BACKEND": "s3",
        "QUIRE_S3_ENDPOINT_URL": s3_endpoint,
        "QUIRE_S3_BUCKET": s3_bucket,
        "QUIRE_S3_ACCESS_KEY_ID": "test",
        "QUIRE_S3_SECRET_ACCESS_KEY": "test",
        "QUIRE_S3_REGION": "us-east-1",
    }


# --- settings and images --------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "quire"}
        values.update(overrides)
        return Settings(**values)

    return build


def text_image(
    lines: list[str], width: int = 900, line_height: int = 60, fmt: str = "PNG"
) -> bytes:
    """A synthetic page with one printed line of text per entry."""
    font = ImageFont.truetype(str(FONT), 36) if FONT.exists() else ImageFont.load_default()
    image = Image.new("RGB", (width, line_height * len(lines) + 40), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 20 + i * line_height), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def crom_png() -> bytes:
    """The shared test image with the sentence 'Covfefe is a perfectly cromulent word.'."""
    return (FIXTURES / "ocrmypdf_crom.png").read_bytes()
