"""Verified API keys are remembered for QUIRE_API_KEY_CACHE_SECONDS per API process: a
revoked key stops working within that time, and at once when the cache is off."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import update

from shared.apikeys import hash_key
from shared.db.models import ApiKey, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from tests.integration.conftest import ClientWithCache, auth

pytestmark = pytest.mark.integration

CHEAP = "/v1/webhook-deliveries"


def revoke(settings: Settings, key: str) -> None:
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.key_hash == hash_key(key, settings.secret_key))
            .values(revoked_at=utcnow())
        )
    engine.dispose()


def test_without_cache_a_revoked_key_is_refused_at_once(
    settings: Settings, new_key: Callable[[str], str], client_with_cache: ClientWithCache
) -> None:
    key = new_key("revoked-now")
    with client_with_cache(0) as client:
        before = client.get(CHEAP, headers=auth(key))
        revoke(settings, key)
        after = client.get(CHEAP, headers=auth(key))
    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["code"] == "unauthorized"


def test_a_revoked_key_works_until_its_cache_entry_expires(
    settings: Settings, new_key: Callable[[str], str], client_with_cache: ClientWithCache
) -> None:
    key = new_key("revoked-later")
    with client_with_cache(1.0) as client:
        verified = client.get(CHEAP, headers=auth(key))
        revoke(settings, key)
        still_cached = client.get(CHEAP, headers=auth(key))
        time.sleep(1.1)
        expired = client.get(CHEAP, headers=auth(key))
    assert verified.status_code == 200
    assert still_cached.status_code == 200
    assert expired.status_code == 401


def test_an_unknown_key_is_not_remembered_and_a_new_key_works_at_once(
    new_key: Callable[[str], str], client_with_cache: ClientWithCache
) -> None:
    with client_with_cache(60) as client:
        unknown = client.get(CHEAP, headers=auth("qk_not_a_key"))
        key = new_key("fresh")
        fresh = client.get(CHEAP, headers=auth(key))
        other_tenant = client.get(CHEAP, headers=auth(new_key("other")))
    assert unknown.status_code == 401
    assert fresh.status_code == 200
    assert other_tenant.status_code == 200
