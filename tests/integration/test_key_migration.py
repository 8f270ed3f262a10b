"""Migration 0007 on SQLite and PostgreSQL: keys made before scopes keep submit and read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from api.app import create_app
from shared.apikeys import display_prefix, generate_key, hash_key
from shared.db.migrate import alembic_config, upgrade
from shared.settings import Settings
from tests.databases import temporary_pg_database
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration

SECRET = "dev-only-insecure-secret-key-change-me"


@pytest.fixture(params=["sqlite", "pg"])
def database_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated to 0006 (PostgreSQL: to head, then down again)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0006")
        yield url
        return
    admin_url = str(request.getfixturevalue("pg_admin_url"))
    with temporary_pg_database(admin_url, "quire_mig") as url:
        command.downgrade(alembic_config(url), "0006")
        yield url


def insert_old_key(url: str) -> str:
    """A tenant and a key written as quire wrote them before 0007; the key's plaintext."""
    key = generate_key()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'old', :now)"),
            {"now": "2026-11-30 10:00:00+00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, created_at)"
                " VALUES ('k1', 't1', :digest, :prefix, 'before scopes', :now)"
            ),
            {
                "digest": hash_key(key, SECRET),
                "prefix": display_prefix(key),
                "now": "2026-11-30 10:00:00+00:00",
            },
        )
    engine.dispose()
    return key


def test_existing_keys_keep_submit_and_read(
    database_at_0006: str, make_settings: Callable[..., Settings], redis_url: str
) -> None:
    url = database_at_0006
    key = insert_old_key(url)
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT scopes, expires_at, last_used_at, revoked_at FROM api_keys")
        ).one()
    engine.dispose()
    assert tuple(row) == ("read submit", None, None, None)

    settings = make_settings(database_url=url, redis_url=redis_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/webhook-deliveries", headers=auth(key)).status_code == 200
        assert client.post("/v1/webhook-secret/rotate", headers=auth(key)).status_code == 200
        assert client.get("/v1/keys", headers=auth(key)).status_code == 403


def test_downgrade_drops_the_new_columns(database_at_0006: str) -> None:
    url = database_at_0006
    upgrade(url)
    command.downgrade(alembic_config(url), "0006")
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("api_keys")}
    engine.dispose()
    assert not {"scopes", "expires_at", "last_used_at"} & columns
    assert "revoked_at" in columns
    upgrade(url)  # and up again
