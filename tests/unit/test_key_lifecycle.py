"""Issuing, revoking and rotating API keys, on a migrated SQLite file; expiry arithmetic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shared.apikeys import hash_key
from shared.db.models import ApiKey, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.errors import InvalidRequest, KeyAlreadyRevoked, NotFound
from shared.key_lifecycle import (
    MAX_EXPIRY_DAYS,
    KeySpec,
    expiry_after,
    find_key,
    is_expired,
    issue_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from shared.key_scopes import KeyScope
from shared.tenancy import ensure_tenant, key_is_valid

SECRET = "unit-test-secret-key-of-32-characters"
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (None, None),
        (1, datetime(2026, 12, 4, 12, 0, tzinfo=UTC)),
        (90, datetime(2027, 3, 3, 12, 0, tzinfo=UTC)),
        (MAX_EXPIRY_DAYS, NOON + timedelta(days=MAX_EXPIRY_DAYS)),
    ],
)
def test_expiry_after(days: int | None, expected: datetime | None) -> None:
    assert expiry_after(days, NOON) == expected


@pytest.mark.parametrize("days", [0, -1, MAX_EXPIRY_DAYS + 1])
def test_expiry_after_refuses_days_out_of_range(days: int) -> None:
    with pytest.raises(InvalidRequest, match="between 1 and"):
        expiry_after(days, NOON)


@pytest.mark.parametrize(
    ("expires_at", "expired"),
    [
        (None, False),
        (NOON + timedelta(seconds=1), False),
        (NOON, True),  # the instant itself is past
        (NOON - timedelta(days=1), True),
    ],
)
def test_is_expired(expires_at: datetime | None, expired: bool) -> None:
    assert is_expired(expires_at, NOON) is expired


@pytest.fixture
def sessions(sqlite_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = build_engine(sqlite_database_url)
    yield build_sessionmaker(engine)
    engine.dispose()


def new_tenant(sessions: sessionmaker[Session], name: str) -> str:
    with transaction(sessions) as session:
        return ensure_tenant(session, name).id


def issue(sessions: sessionmaker[Session], tenant_id: str, spec: KeySpec) -> tuple[str, str]:
    """(key id, key) of a new key."""
    with transaction(sessions) as session:
        row, key = issue_key(session, tenant_id, SECRET, spec)
        return row.id, key


def valid(sessions: sessionmaker[Session], key: str) -> bool:
    with sessions() as session:
        return key_is_valid(session, key, SECRET)


def stored(sessions: sessionmaker[Session], key_id: str) -> ApiKey:
    with sessions() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        return row


def test_a_key_is_stored_as_its_hmac_with_its_scopes_and_expiry(
    sessions: sessionmaker[Session],
) -> None:
    tenant = new_tenant(sessions, "lifecycle-issue")
    expires = utcnow() + timedelta(days=3)
    spec = KeySpec(name="ci", scopes=frozenset({KeyScope.READ}), expires_at=expires)
    key_id, key = issue(sessions, tenant, spec)
    row = stored(sessions, key_id)
    assert (row.key_hash, row.prefix) == (hash_key(key, SECRET), key[:10])
    assert (row.name, row.scopes, row.expires_at) == ("ci", "read", expires)
    assert row.last_used_at is None and row.revoked_at is None
    assert valid(sessions, key)


@pytest.mark.parametrize("name", ["a\x00b", "tab\there", "esc\x1b[31m", "x" * 201])
def test_a_name_with_control_characters_or_too_long_is_refused(
    sessions: sessionmaker[Session], name: str
) -> None:
    tenant = new_tenant(sessions, "lifecycle-names")
    with pytest.raises(InvalidRequest, match="control characters"):
        issue(sessions, tenant, KeySpec(name=name))


def test_a_key_without_scopes_is_refused(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-no-scope")
    with pytest.raises(InvalidRequest, match="at least one scope"):
        issue(sessions, tenant, KeySpec(scopes=frozenset()))


def test_an_expired_key_is_not_valid(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-expired")
    _, key = issue(sessions, tenant, KeySpec(expires_at=utcnow() - timedelta(seconds=1)))
    assert not valid(sessions, key)


def test_revoke_once_then_409(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-revoke")
    key_id, key = issue(sessions, tenant, KeySpec())
    with transaction(sessions) as session:
        revoke_key(session, key_id, tenant)
    assert stored(sessions, key_id).revoked_at is not None
    assert not valid(sessions, key)
    with pytest.raises(KeyAlreadyRevoked, match="was revoked at"), transaction(sessions) as s:
        revoke_key(s, key_id, tenant)


def test_another_tenants_key_is_not_found(sessions: sessionmaker[Session]) -> None:
    owner, other = new_tenant(sessions, "lifecycle-owner"), new_tenant(sessions, "lifecycle-other")
    key_id, key = issue(sessions, owner, KeySpec())
    for change in (revoke_key, lambda s, k, t: rotate_key(s, k, SECRET, t)):
        with pytest.raises(NotFound), transaction(sessions) as session:
            change(session, key_id, other)
    with pytest.raises(NotFound), sessions() as session:
        find_key(session, key_id, other)
    assert valid(sessions, key)  # untouched


def test_rotate_keeps_tenant_name_scopes_and_expiry_and_revokes_the_old_key(
    sessions: sessionmaker[Session],
) -> None:
    tenant = new_tenant(sessions, "lifecycle-rotate")
    expires = utcnow() + timedelta(days=30)
    scopes = frozenset({KeyScope.READ, KeyScope.ADMIN})
    old_id, old_key = issue(sessions, tenant, KeySpec("deploy", scopes, expires))
    with transaction(sessions) as session:
        row, new_key = rotate_key(session, old_id, SECRET, tenant)
        new_id = row.id
    new, old = stored(sessions, new_id), stored(sessions, old_id)
    assert new_key != old_key and new_id != old_id
    assert (new.tenant_id, new.name, new.scopes, new.expires_at) == (
        tenant,
        "deploy",
        "admin read",
        expires,
    )
    assert new.key_hash == hash_key(new_key, SECRET) and new.revoked_at is None
    assert old.revoked_at is not None
    assert valid(sessions, new_key) and not valid(sessions, old_key)
    with pytest.raises(KeyAlreadyRevoked), transaction(sessions) as session:
        rotate_key(session, old_id, SECRET, tenant)  # a revoked key is never brought back


def test_rotate_with_a_new_lifetime(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-rotate-days")
    old_id, _ = issue(sessions, tenant, KeySpec())
    before = utcnow()
    with transaction(sessions) as session:
        new_id = rotate_key(session, old_id, SECRET, tenant, expires_in_days=7)[0].id
    expires_at = stored(sessions, new_id).expires_at
    assert expires_at is not None
    assert before + timedelta(days=7) <= expires_at <= utcnow() + timedelta(days=7)


def test_an_expired_key_rotates_only_with_a_new_lifetime(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-rotate-expired")
    old_id, _ = issue(sessions, tenant, KeySpec(expires_at=utcnow() - timedelta(hours=1)))
    with pytest.raises(InvalidRequest, match="expired"), transaction(sessions) as session:
        rotate_key(session, old_id, SECRET, tenant)
    assert stored(sessions, old_id).revoked_at is None  # the refusal changed nothing
    with transaction(sessions) as session:
        _, key = rotate_key(session, old_id, SECRET, tenant, expires_in_days=1)
    assert valid(sessions, key)


def test_list_keys_newest_first_per_tenant(sessions: sessionmaker[Session]) -> None:
    tenant = new_tenant(sessions, "lifecycle-list")
    first, _ = issue(sessions, tenant, KeySpec(name="first"))
    second, _ = issue(sessions, tenant, KeySpec(name="second"))
    with transaction(sessions) as session:
        revoke_key(session, first)
    with sessions() as session:
        assert [k.id for k in list_keys(session, tenant)] == [second, first]
        assert [k.id for k in list_keys(session, tenant, include_revoked=False)] == [second]
        everyone = {k.id for k in list_keys(session)}
    assert {first, second} <= everyone
