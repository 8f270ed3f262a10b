"""What an API key may do: its scopes, how they are stored, and which one a request needs.

``read`` covers every GET/HEAD route, ``submit`` every write of jobs, batches, uploads and
webhooks, ``admin`` the management of the tenant's keys. Scopes do not imply one another: an
``admin``-only key manages keys and reads no job.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from shared.errors import InvalidRequest


class KeyScope(StrEnum):
    """One permission of an API key."""

    SUBMIT = "submit"
    READ = "read"
    ADMIN = "admin"


# What a key had before scopes existed, and what a new key gets unless told otherwise.
DEFAULT_SCOPES: frozenset[KeyScope] = frozenset({KeyScope.SUBMIT, KeyScope.READ})
ALL_SCOPES: frozenset[KeyScope] = frozenset(KeyScope)
# Methods that change nothing; every other method is a write.
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The stored form of DEFAULT_SCOPES: the migration's server default for existing rows.
DEFAULT_SCOPES_TEXT = "read submit"


def scope_for_method(method: str) -> KeyScope:
    """The scope a request with this HTTP method needs on the job, batch, upload and
    webhook routes."""
    return KeyScope.READ if method.upper() in READING_METHODS else KeyScope.SUBMIT


def to_scopes(names: Iterable[str]) -> frozenset[KeyScope]:
    """The scopes named, checked.

    Raises:
        InvalidRequest: a name is not a scope, or none is given.
    """
    wanted = {name.strip().lower() for name in names}
    unknown = sorted(wanted - {scope.value for scope in KeyScope})
    if unknown:
        choices = ", ".join(sorted(KeyScope))
        raise InvalidRequest(f"unknown scope {unknown[0]!r}; choose from {choices}")
    if not wanted:
        raise InvalidRequest("a key needs at least one scope")
    return frozenset(KeyScope(name) for name in wanted)


def format_scopes(scopes: Iterable[KeyScope]) -> str:
    """The stored form: names sorted and space-separated, as OAuth writes scopes."""
    return " ".join(sorted(scope.value for scope in scopes))


def parse_scopes(text: str) -> frozenset[KeyScope]:
    """The scopes of a stored value; a name this version does not know grants nothing."""
    known = {scope.value for scope in KeyScope}
    return frozenset(KeyScope(word) for word in text.split() if word in known)
