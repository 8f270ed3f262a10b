"""Issue, list, revoke and rotate API keys: one implementation for the CLI and the API.

A key's secret exists only in the return value of ``issue_key`` and ``rotate_key``; the
database keeps its HMAC (``shared.apikeys``) and a display prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.apikeys import display_prefix, generate_key, hash_key
from shared.db.models import ApiKey, utcnow
from shared.errors import InvalidRequest, KeyAlreadyRevoked, NotFound
from shared.key_scopes import DEFAULT_SCOPES, KeyScope, format_scopes, parse_scopes

MAX_EXPIRY_DAYS = 3650
MAX_NAME_CHARS = 200
# A key's name is printed in listings and terminals: no control characters (NUL included).
KEY_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


@dataclass(frozen=True)
class KeySpec:
    """What a new key is: its label, its scopes and when it stops working (None: never)."""

    name: str = ""
    scopes: frozenset[KeyScope] = DEFAULT_SCOPES
    expires_at: datetime | None = None


def expiry_after(days: int | None, now: datetime) -> datetime | None:
    """When a key valid for ``days`` from ``now`` expires; None (no expiry) without days.

    Raises:
        InvalidRequest: ``days`` is not between 1 and ``MAX_EXPIRY_DAYS``.
    """
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidRequest(f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}")
    return now + timedelta(days=days)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a key with this expiry is refused at ``now`` (at the instant itself too)."""
    return expires_at is not None and expires_at <= now


def issue_key(session: Session, tenant_id: str, secret: str, spec: KeySpec) -> tuple[ApiKey, str]:
    """A new key of the tenant: its row, and its plaintext (returned once, never stored).

    Raises:
        InvalidRequest: the name is too long or holds control characters, or no scope is
            given.
    """
    if len(spec.name) > MAX_NAME_CHARS or not re.fullmatch(KEY_NAME_PATTERN, spec.name):
        raise InvalidRequest(
            f"a key's name is up to {MAX_NAME_CHARS} characters, without control characters"
        )
    if not spec.scopes:
        raise InvalidRequest("a key needs at least one scope")
    key = generate_key()
    row = ApiKey(
        tenant_id=tenant_id,
        key_hash=hash_key(key, secret),
        prefix=display_prefix(key),
        name=spec.name,
        scopes=format_scopes(spec.scopes),
        expires_at=spec.expires_at,
    )
    session.add(row)
    session.flush()
    return row, key


def find_key(
    session: Session, key_id: str, tenant_id: str | None = None, *, lock: bool = False
) -> ApiKey:
    """The key with this id; with ``tenant_id``, only if that tenant owns it.

    Raises:
        NotFound: no such key, or another tenant's (reported the same way).
    """
    row = session.get(ApiKey, key_id, with_for_update=lock)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"no API key {key_id!r}")
    return row


def list_keys(
    session: Session, tenant_id: str | None = None, *, include_revoked: bool = True
) -> list[ApiKey]:
    """Keys newest first: one tenant's, or every tenant's (the operator's view)."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(
    session: Session, key_id: str, tenant_id: str | None = None, now: datetime | None = None
) -> ApiKey:
    """Revoke a key; API processes stop accepting it within ``QUIRE_API_KEY_CACHE_SECONDS``.

    Raises:
        NotFound: no such key (or another tenant's).
        KeyAlreadyRevoked: the key was revoked before (409).
    """
    row = _live_key(session, key_id, tenant_id)
    row.revoked_at = now or utcnow()
    return row


def rotate_key(
    session: Session,
    key_id: str,
    secret: str,
    tenant_id: str | None = None,
    *,
    expires_in_days: int | None = None,
) -> tuple[ApiKey, str]:
    """Replace a key: a new one with the same tenant, name, scopes and expiry (or one
    ``expires_in_days`` from now), and the old one revoked, in one transaction.

    Raises:
        NotFound: no such key (or another tenant's).
        KeyAlreadyRevoked: the key is revoked; a revoked key is never brought back.
        InvalidRequest: the key has expired and no new expiry is given.
    """
    now = utcnow()
    old = _live_key(session, key_id, tenant_id)
    expires_at = old.expires_at if expires_in_days is None else expiry_after(expires_in_days, now)
    if is_expired(expires_at, now):
        raise InvalidRequest(
            f"API key {key_id!r} expired at {expires_at}; give the new key an expiry "
            "(expires_in_days) or create one"
        )
    old.revoked_at = now
    spec = KeySpec(name=old.name, scopes=parse_scopes(old.scopes), expires_at=expires_at)
    return issue_key(session, old.tenant_id, secret, spec)


def _live_key(session: Session, key_id: str, tenant_id: str | None) -> ApiKey:
    """The key, locked for a change, unless it is revoked already."""
    row = find_key(session, key_id, tenant_id, lock=True)
    if row.revoked_at is not None:
        raise KeyAlreadyRevoked(
            f"API key {key_id!r} was revoked at {row.revoked_at.isoformat()}",
            revoked_at=row.revoked_at.isoformat(),
        )
    return row
