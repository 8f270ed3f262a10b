"""Tenants and their API keys."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.apikeys import hash_key
from shared.db.models import ApiKey, Tenant, utcnow
from shared.key_lifecycle import KeySpec, is_expired, issue_key
from shared.key_scopes import DEFAULT_SCOPES, KeyScope


def ensure_tenant(session: Session, name: str) -> Tenant:
    """The tenant called ``name``, created if it does not exist."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
    return tenant


def issue_api_key(
    session: Session,
    tenant: Tenant,
    secret: str,
    label: str = "",
    *,
    scopes: Iterable[KeyScope] = DEFAULT_SCOPES,
    expires_at: datetime | None = None,
) -> str:
    """Create a key for ``tenant``; the plaintext is returned once and never stored."""
    spec = KeySpec(name=label, scopes=frozenset(scopes), expires_at=expires_at)
    return issue_key(session, tenant.id, secret, spec)[1]


def key_is_valid(session: Session, key: str, secret: str) -> bool:
    """Whether ``key`` belongs to some tenant and is neither revoked nor expired."""
    expires_at = session.execute(
        select(ApiKey.expires_at).where(
            ApiKey.key_hash == hash_key(key, secret), ApiKey.revoked_at.is_(None)
        )
    ).first()
    return expires_at is not None and not is_expired(expires_at[0], utcnow())
