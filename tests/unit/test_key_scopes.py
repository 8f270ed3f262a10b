"""API key scopes: which one a request needs, how they are checked, stored and read back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shared.errors import InvalidRequest
from shared.key_scopes import (
    ALL_SCOPES,
    DEFAULT_SCOPES,
    DEFAULT_SCOPES_TEXT,
    KeyScope,
    format_scopes,
    parse_scopes,
    scope_for_method,
    to_scopes,
)

MIGRATION = (
    Path(__file__).resolve().parents[2] / "shared/migrations/versions/0007_api_key_scopes.py"
)


@pytest.mark.parametrize(
    ("method", "scope"),
    [
        ("GET", KeyScope.READ),
        ("HEAD", KeyScope.READ),
        ("OPTIONS", KeyScope.READ),
        ("get", KeyScope.READ),
        ("POST", KeyScope.SUBMIT),
        ("PUT", KeyScope.SUBMIT),
        ("PATCH", KeyScope.SUBMIT),
        ("DELETE", KeyScope.SUBMIT),
        ("PROPFIND", KeyScope.SUBMIT),  # an unknown method is a write, never a read
    ],
)
def test_scope_for_method(method: str, scope: KeyScope) -> None:
    assert scope_for_method(method) is scope


@pytest.mark.parametrize(
    ("names", "scopes"),
    [
        (["read"], {KeyScope.READ}),
        (["submit", "read"], {KeyScope.SUBMIT, KeyScope.READ}),
        (["admin", "admin"], {KeyScope.ADMIN}),
        ([" Read "], {KeyScope.READ}),
        (["admin", "read", "submit"], set(ALL_SCOPES)),
    ],
)
def test_to_scopes_accepts_known_names(names: list[str], scopes: set[KeyScope]) -> None:
    assert to_scopes(names) == scopes


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["write"], "unknown scope 'write'"),
        (["read", "root"], "unknown scope 'root'"),
        ([], "at least one scope"),
    ],
)
def test_to_scopes_refuses_unknown_or_no_names(names: list[str], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        to_scopes(names)


@pytest.mark.parametrize(
    ("scopes", "text"),
    [
        ({KeyScope.SUBMIT, KeyScope.READ}, "read submit"),
        ({KeyScope.ADMIN}, "admin"),
        (set(ALL_SCOPES), "admin read submit"),
        (set(), ""),
    ],
)
def test_stored_form_is_sorted_and_round_trips(scopes: set[KeyScope], text: str) -> None:
    assert format_scopes(scopes) == text
    assert parse_scopes(text) == scopes


def test_a_stored_name_this_version_does_not_know_grants_nothing() -> None:
    assert parse_scopes("read  billing submit") == {KeyScope.READ, KeyScope.SUBMIT}
    assert parse_scopes("ADMIN") == set()


def test_keys_without_scopes_keep_read_and_submit() -> None:
    assert {KeyScope.SUBMIT, KeyScope.READ} == DEFAULT_SCOPES
    assert format_scopes(DEFAULT_SCOPES) == DEFAULT_SCOPES_TEXT
    spec = importlib.util.spec_from_file_location("migration_0007", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.EXISTING_KEYS_SCOPES == DEFAULT_SCOPES_TEXT
    assert (migration.revision, migration.down_revision) == ("0007", "0006")
