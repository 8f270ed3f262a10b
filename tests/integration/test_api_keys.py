"""API key management and key scopes through the real app, on SQLite and PostgreSQL: scopes
on every route, /v1/keys for admin keys, expiry, revocation across API processes, last use."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from api.key_usage import UsageThrottle
from shared.db.models import ApiKey, utcnow
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.key_scopes import ALL_SCOPES, KeyScope
from shared.settings import Settings
from tests.integration.conftest import ClientWithCache, auth
from tests.integration.test_api_jobs import job_count, png

pytestmark = pytest.mark.integration

READ_ONLY = {KeyScope.READ}
SUBMIT_ONLY = {KeyScope.SUBMIT}
ADMIN_ONLY = {KeyScope.ADMIN}
CHEAP_READ = "/v1/webhook-deliveries"
NewKey = Callable[..., str]


def tenant(name: str) -> str:
    """A tenant name of this test alone (the databases live for the whole session)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def stored_key(settings: Settings, key_id: str) -> ApiKey:
    engine = build_engine(settings.effective_database_url)
    with build_sessionmaker(engine)() as session:
        row = session.get(ApiKey, key_id)
    engine.dispose()
    assert row is not None
    return row


def set_last_used(settings: Settings, key_id: str, ago: timedelta) -> None:
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow() - ago)
        )
    engine.dispose()


def create_key(client: TestClient, admin: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/keys", headers=auth(admin), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_missing_scope(response: Any, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["required_scope"]) == ("missing_scope", scope)
    assert f"'{scope}'" in problem["detail"]
    assert f'scope="{scope}"' in response.headers["www-authenticate"]


# --- scopes on the existing routes ----------------------------------------------------------


def test_a_read_only_key_reads_but_cannot_submit(
    client: TestClient, new_key: NewKey, settings: Settings
) -> None:
    key = new_key(tenant("read-only"), READ_ONLY)
    jobs_before = job_count(settings)
    submit = client.post(
        "/v1/jobs", headers=auth(key), files={"file": ("a.png", png(), "image/png")}
    )
    assert_missing_scope(submit, "submit")
    assert job_count(settings) == jobs_before  # refused before anything was stored
    assert submit.json()["key_scopes"] == ["read"]
    writes = [
        client.post("/v1/batches", headers=auth(key), json={"upload_id": "u"}),
        client.post("/v1/uploads", headers=auth(key), json={"filename": "a", "size_bytes": 1}),
        client.post("/v1/jobs/some-job/cancel", headers=auth(key)),
        client.delete("/v1/jobs/some-job", headers=auth(key)),
        client.post("/v1/webhook-deliveries/d/redeliver", headers=auth(key)),
        client.post("/v1/webhook-secret/rotate", headers=auth(key)),
    ]
    for response in writes:
        assert_missing_scope(response, "submit")
    assert client.get(CHEAP_READ, headers=auth(key)).status_code == 200
    assert client.get("/v1/jobs/some-job", headers=auth(key)).status_code == 404  # past scope


def test_a_submit_only_key_writes_but_cannot_read(client: TestClient, new_key: NewKey) -> None:
    key = new_key(tenant("submit-only"), SUBMIT_ONLY)
    upload = client.post(
        "/v1/uploads", headers=auth(key), json={"filename": "a.zip", "size_bytes": 10}
    )
    assert upload.status_code == 201, upload.text
    assert_missing_scope(
        client.get(f"/v1/uploads/{upload.json()['id']}", headers=auth(key)), "read"
    )
    assert_missing_scope(client.get(CHEAP_READ, headers=auth(key)), "read")


def test_scopes_do_not_imply_each_other(client: TestClient, new_key: NewKey) -> None:
    admin = new_key(tenant("admin-only"), ADMIN_ONLY)
    default = new_key(tenant("default"))
    assert client.get("/v1/keys", headers=auth(admin)).status_code == 200
    assert_missing_scope(client.get(CHEAP_READ, headers=auth(admin)), "read")
    assert_missing_scope(client.get("/v1/keys", headers=auth(default)), "admin")
    assert_missing_scope(client.post("/v1/keys", headers=auth(default), json={}), "admin")


def test_an_expired_key_gets_401_with_a_reason(client: TestClient, new_key: NewKey) -> None:
    key = new_key(tenant("expired"), expires_at=utcnow() - timedelta(minutes=1))
    response = client.get(CHEAP_READ, headers=auth(key))
    assert response.status_code == 401
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("unauthorized", "expired")
    assert "expired at" in problem["detail"] and problem["expired_at"]


def test_a_cached_key_stops_at_its_expiry(
    new_key: NewKey, client_with_cache: ClientWithCache
) -> None:
    key = new_key(tenant("expiring"), expires_at=utcnow() + timedelta(seconds=1))
    with client_with_cache(60) as client:
        before = client.get(CHEAP_READ, headers=auth(key))
        time.sleep(1.1)
        after = client.get(CHEAP_READ, headers=auth(key))
    assert before.status_code == 200
    assert (after.status_code, after.json()["reason"]) == (401, "expired")


# --- /v1/keys -------------------------------------------------------------------------------


def test_an_admin_creates_a_key_whose_secret_is_shown_once(
    client: TestClient, new_key: NewKey
) -> None:
    admin = new_key(tenant("creator"), ALL_SCOPES)
    before = utcnow()
    response = client.post(
        "/v1/keys",
        headers=auth(admin),
        json={"name": "ci reader", "scopes": ["read"], "expires_in_days": 30},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/keys/{created['id']}"
    secret = created["secret"]
    assert secret.startswith("qk_") and created["prefix"] == secret[:10]
    assert (created["name"], created["scopes"], created["revoked_at"]) == (
        "ci reader",
        ["read"],
        None,
    )
    expires = created["expires_at"]
    assert (before + timedelta(days=30)).isoformat()[:13] == expires[:13]

    # The new key works, with its scopes only.
    assert client.get(CHEAP_READ, headers=auth(secret)).status_code == 200
    assert_missing_scope(client.post("/v1/webhook-secret/rotate", headers=auth(secret)), "submit")

    listed = client.get("/v1/keys", headers=auth(admin))
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.json()["items"]}
    assert items[created["id"]]["name"] == "ci reader"
    assert len(items) == 2  # the admin's own key and the new one: the tenant's keys only
    assert secret not in listed.text and secret[10:20] not in listed.text
    assert all("secret" not in item and "key_hash" not in item for item in items.values())
    one = client.get(f"/v1/keys/{created['id']}", headers=auth(admin)).json()
    assert "secret" not in one and one["scopes"] == ["read"]


def test_a_new_key_defaults_to_submit_and_read_without_expiry(
    client: TestClient, new_key: NewKey
) -> None:
    admin = new_key(tenant("defaults"), ADMIN_ONLY)
    created = create_key(client, admin)
    assert (created["scopes"], created["expires_at"], created["name"]) == (
        ["read", "submit"],
        None,
        "",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["write"]},
        {"scopes": []},
        {"expires_in_days": 0},
        {"expires_in_days": 100_000},
        {"name": "bell\x07"},
        {"name": "x" * 201},
        {"name": "a", "tenant": "someone-else"},  # unknown fields are refused
    ],
)
def test_create_refuses_bad_bodies(client: TestClient, new_key: NewKey, body: dict) -> None:
    admin = new_key(tenant("bad-bodies"), ADMIN_ONLY)
    response = client.post("/v1/keys", headers=auth(admin), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"


def test_revoke_own_key_once_and_never_another_tenants(client: TestClient, new_key: NewKey) -> None:
    admin, intruder = new_key(tenant("owner"), ALL_SCOPES), new_key(tenant("intruder"), ALL_SCOPES)
    victim = create_key(client, admin, name="victim")
    path = f"/v1/keys/{victim['id']}"

    for method in ("GET", "DELETE"):
        other = client.request(method, path, headers=auth(intruder))
        assert (other.status_code, other.json()["code"]) == (404, "not_found")
    rotated = client.post(f"{path}/rotate", headers=auth(intruder))
    assert rotated.status_code == 404
    assert client.get(CHEAP_READ, headers=auth(victim["secret"])).status_code == 200

    revoked = client.delete(path, headers=auth(admin))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    again = client.delete(path, headers=auth(admin))
    assert (again.status_code, again.json()["code"]) == (409, "key_already_revoked")
    assert "was revoked at" in again.json()["detail"]
    refused = client.get(CHEAP_READ, headers=auth(victim["secret"]))
    assert (refused.status_code, refused.json()["reason"]) == (401, "revoked")
    assert client.delete("/v1/keys/no-such-key", headers=auth(admin)).status_code == 404


def test_rotate_through_the_api(client: TestClient, new_key: NewKey, settings: Settings) -> None:
    admin = new_key(tenant("rotator"), ALL_SCOPES)
    old = create_key(client, admin, name="deploy", scopes=["submit"], expires_in_days=10)
    assert client.post("/v1/webhook-secret/rotate", headers=auth(old["secret"])).status_code == 200
    response = client.post(f"/v1/keys/{old['id']}/rotate", headers=auth(admin))
    assert response.status_code == 201, response.text
    new = response.json()
    assert response.headers["location"] == f"/v1/keys/{new['id']}"
    assert (new["name"], new["scopes"], new["expires_at"]) == (
        "deploy",
        ["submit"],
        old["expires_at"],
    )
    assert new["secret"] != old["secret"]
    assert client.post("/v1/webhook-secret/rotate", headers=auth(new["secret"])).status_code == 200
    assert client.post("/v1/webhook-secret/rotate", headers=auth(old["secret"])).status_code == 401
    assert stored_key(settings, old["id"]).revoked_at is not None

    longer = client.post(
        f"/v1/keys/{new['id']}/rotate", headers=auth(admin), json={"expires_in_days": 365}
    )
    assert longer.status_code == 201
    assert longer.json()["expires_at"][:4] > old["expires_at"][:4]
    twice = client.post(f"/v1/keys/{new['id']}/rotate", headers=auth(admin))
    assert (twice.status_code, twice.json()["code"]) == (409, "key_already_revoked")


# --- revocation across API processes ---------------------------------------------------------


def test_a_revoked_key_stops_within_the_cache_window_in_every_process(
    new_key: NewKey, client_with_cache: ClientWithCache
) -> None:
    admin = new_key(tenant("multi-process"), ALL_SCOPES)
    with client_with_cache(60) as revoking, client_with_cache(1.0) as other:
        victim = create_key(revoking, admin, name="victim")["secret"]
        assert revoking.get(CHEAP_READ, headers=auth(victim)).status_code == 200  # cached: 60 s
        assert other.get(CHEAP_READ, headers=auth(victim)).status_code == 200  # cached: 1 s
        victim_id = next(
            item["id"]
            for item in revoking.get("/v1/keys", headers=auth(admin)).json()["items"]
            if item["name"] == "victim"
        )
        assert revoking.delete(f"/v1/keys/{victim_id}", headers=auth(admin)).status_code == 200

        at_once_here = revoking.get(CHEAP_READ, headers=auth(victim))
        still_cached_there = other.get(CHEAP_READ, headers=auth(victim))
        time.sleep(1.1)
        after_window = other.get(CHEAP_READ, headers=auth(victim))
    assert at_once_here.status_code == 401  # the revoking process forgot it at once
    assert still_cached_there.status_code == 200  # within QUIRE_API_KEY_CACHE_SECONDS
    assert (after_window.status_code, after_window.json()["reason"]) == (401, "revoked")


# --- last use ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_last_use_is_written_at_most_once_a_minute(
    new_key: NewKey, client_with_cache: ClientWithCache, settings: Settings
) -> None:
    admin = new_key(tenant("busy"), ALL_SCOPES)
    with client_with_cache(0) as client:  # every request looks the key up
        key = create_key(client, admin)
        context = client.app.state.quire  # type: ignore[attr-defined]
        clock = FakeClock()
        context.key_usage = UsageThrottle(60.0, clock=clock)
        writes: list[str] = []

        @event.listens_for(context.engine, "before_cursor_execute")
        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
                writes.append(statement)

        for _ in range(20):
            assert client.get(CHEAP_READ, headers=auth(key["secret"])).status_code == 200
        assert len(writes) == 1
        first = stored_key(settings, key["id"]).last_used_at
        assert first is not None and utcnow() - first < timedelta(seconds=30)

        # A minute later in this process, but another process wrote the row a moment ago:
        # the statement is sent and changes nothing.
        clock.now += 61
        client.get(CHEAP_READ, headers=auth(key["secret"]))
        assert len(writes) == 2
        assert stored_key(settings, key["id"]).last_used_at == first

        set_last_used(settings, key["id"], timedelta(minutes=2))
        clock.now += 61
        client.get(CHEAP_READ, headers=auth(key["secret"]))
        listed = client.get(f"/v1/keys/{key['id']}", headers=auth(admin)).json()
    latest = stored_key(settings, key["id"]).last_used_at
    assert latest is not None and utcnow() - latest < timedelta(seconds=30)
    assert listed["last_used_at"] is not None


# --- OpenAPI --------------------------------------------------------------------------------


def test_openapi_documents_the_key_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/v1/keys": {"get", "post"},
        "/v1/keys/{key_id}": {"get", "delete"},
        "/v1/keys/{key_id}/rotate": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= paths[path].keys(), path
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"] and operation["tags"] == ["keys"]
            assert {"401", "403", "404"} <= operation["responses"].keys()
    created = paths["/v1/keys"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"].endswith("/CreatedKeyOut")
    components = schema["components"]["schemas"]
    assert "secret" in components["CreatedKeyOut"]["properties"]
    assert not {"secret", "key_hash"} & components["KeyOut"]["properties"].keys()
    assert "409" in paths["/v1/keys/{key_id}"]["delete"]["responses"]
    assert "403" in paths["/v1/jobs"]["post"]["responses"]
