"""``quire keys create|list|revoke|rotate`` in-process, on a real, migrated SQLite file."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.main import main
from shared.db.migrate import upgrade
from shared.db.models import ApiKey, utcnow
from shared.db.session import build_engine, build_sessionmaker
from shared.tenancy import key_is_valid

pytestmark = pytest.mark.integration

DEV_SECRET = "dev-only-insecure-secret-key-change-me"
Quire = Callable[..., tuple[int, str, str]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    return url


@pytest.fixture
def quire(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Quire:
    """Run ``quire ARGS``; (exit status, stdout, stderr)."""
    monkeypatch.setenv("QUIRE_DATABASE_URL", database_url)
    monkeypatch.setenv("QUIRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUIRE_API_KEY_CACHE_SECONDS", "5")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(list(args))
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def rows(database_url: str) -> list[ApiKey]:
    engine = build_engine(database_url)
    with build_sessionmaker(engine)() as session:
        found = list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
    engine.dispose()
    return found


def valid(database_url: str, key: str) -> bool:
    engine = build_engine(database_url)
    with build_sessionmaker(engine)() as session:
        answer = key_is_valid(session, key, DEV_SECRET)
    engine.dispose()
    return answer


def create(quire: Quire, *args: str) -> str:
    status, out, err = quire("keys", "create", *args)
    assert status == 0, err
    return out.strip()


def test_create_prints_the_key_alone_with_scopes_and_expiry(
    quire: Quire, database_url: str
) -> None:
    status, out, err = quire(
        "keys", "create", "--tenant", "acme", "--name", "ci", "--scope", "read",
        "--scope", "admin", "--expires-in-days", "7",
    )  # fmt: skip
    assert status == 0, err
    key = out.strip()
    assert out == key + "\n" and key.startswith("qk_")
    (row,) = rows(database_url)
    assert (row.name, row.scopes) == ("ci", "admin read")
    assert row.expires_at is not None
    assert abs(row.expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert row.id in err and "webhook signing secret of 'acme'" in err
    assert key not in err
    assert valid(database_url, key)


def test_create_defaults_to_submit_and_read_forever(quire: Quire, database_url: str) -> None:
    create(quire, "--tenant", "acme")
    (row,) = rows(database_url)
    assert (row.scopes, row.expires_at, row.name) == ("read submit", None, "")


@pytest.mark.parametrize(
    "args",
    [
        ("--scope", "write"),
        ("--expires-in-days", "soon"),
        ("--name", "x"),  # no --tenant
    ],
)
def test_create_refuses_bad_arguments(quire: Quire, args: tuple[str, ...]) -> None:
    tenant = () if "--name" in args else ("--tenant", "acme")
    with pytest.raises(SystemExit) as exit_info:
        quire("keys", "create", *tenant, *args)
    assert exit_info.value.code == 2


def test_create_refuses_an_expiry_out_of_range(quire: Quire, database_url: str) -> None:
    status, out, err = quire("keys", "create", "--tenant", "acme", "--expires-in-days", "0")
    assert (status, out) == (1, "")
    assert "between 1 and" in err
    assert rows(database_url) == []


def test_list_shows_every_column_but_never_a_secret(quire: Quire) -> None:
    first = create(quire, "--tenant", "acme", "--name", "reader", "--scope", "read")
    second = create(quire, "--tenant", "umbrella", "--expires-in-days", "30")
    status, out, _ = quire("keys", "list")
    assert status == 0
    header, *lines = out.splitlines()
    assert header.split() == [
        "ID", "TENANT", "PREFIX", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST", "USED",
        "REVOKED",
    ]  # fmt: skip
    assert len(lines) == 2
    assert "umbrella" in lines[0] and second[:10] in lines[0]  # newest first
    assert "acme" in lines[1] and "reader" in lines[1] and " read " in lines[1]
    assert "never" in lines[1] and "read,submit" in lines[0]
    assert first[10:] not in out and second[10:] not in out

    status, out, _ = quire("keys", "list", "--tenant", "acme", "--json")
    (only,) = json.loads(out)
    assert (only["tenant"], only["name"], only["scopes"]) == ("acme", "reader", ["read"])
    assert only["prefix"] == first[:10]
    assert (only["expires_at"], only["last_used_at"], only["revoked_at"]) == (None, None, None)
    assert set(only) == {
        "id", "tenant", "prefix", "name", "scopes", "created_at", "expires_at", "last_used_at",
        "revoked_at",
    }  # fmt: skip


def test_list_of_an_unknown_tenant_exits_1(quire: Quire) -> None:
    status, out, err = quire("keys", "list", "--tenant", "nobody")
    assert (status, out) == (1, "")
    assert "no tenant 'nobody'" in err


def test_revoke_by_id_once(quire: Quire, database_url: str) -> None:
    key = create(quire, "--tenant", "acme")
    (row,) = rows(database_url)
    status, out, err = quire("keys", "revoke", row.id)
    assert (status, out) == (0, "")
    assert "within 5 s" in err
    assert not valid(database_url, key)
    _, listed, _ = quire("keys", "list", "--json")
    assert json.loads(listed)[0]["revoked_at"] is not None

    status, out, err = quire("keys", "revoke", row.id)
    assert (status, out) == (1, "")
    assert "was revoked at" in err
    status, _, err = quire("keys", "revoke", "no-such-id")
    assert status == 1 and "no API key 'no-such-id'" in err


def test_rotate_prints_the_new_key_alone_and_revokes_the_old(
    quire: Quire, database_url: str
) -> None:
    old_key = create(
        quire, "--tenant", "acme", "--name", "deploy", "--scope", "submit",
        "--expires-in-days", "10",
    )  # fmt: skip
    (old,) = rows(database_url)
    status, out, err = quire("keys", "rotate", old.id)
    assert status == 0, err
    new_key = out.strip()
    assert out == new_key + "\n" and new_key.startswith("qk_") and new_key != old_key
    assert valid(database_url, new_key) and not valid(database_url, old_key)
    old_after, new = rows(database_url)
    assert old_after.id == old.id and old_after.revoked_at is not None
    assert (new.tenant_id, new.name, new.scopes, new.expires_at) == (
        old.tenant_id,
        "deploy",
        "submit",
        old.expires_at,
    )
    assert old.id in err and new.id in err

    status, out, err = quire("keys", "rotate", old.id)
    assert (status, out) == (1, "")
    assert "was revoked at" in err


def test_rotate_with_a_new_lifetime(quire: Quire, database_url: str) -> None:
    create(quire, "--tenant", "acme")
    (old,) = rows(database_url)
    status, _, err = quire("keys", "rotate", old.id, "--expires-in-days", "2")
    assert status == 0, err
    new = rows(database_url)[1]
    assert new.expires_at is not None
    assert abs(new.expires_at - (utcnow() + timedelta(days=2))) < timedelta(minutes=1)
