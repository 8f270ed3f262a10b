"""Tenants and their API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.apikeys import display_prefix, generate_key, hash_key
from shared.db.models import ApiKey, Tenant


def ensure_tenant(session: Session, name: str) -> Tenant:
    """The tenant called ``name``, created if it does not exist."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
    return tenant


def issue_api_key(session: Session, tenant: Tenant, secret: str, label: str = "") -> str:
    """Create a key for ``tenant``; the plaintext is returned once and never stored."""
    key = generate_key()
    session.add(
        ApiKey(
            tenant_id=tenant.id,
            key_hash=hash_key(key, secret),
            prefix=display_prefix(key),
            name=label,
        )
    )
    session.flush()
    return key


def key_is_valid(session: Session, key: str, secret: str) -> bool:
    """Whether ``key`` belongs to some tenant and is not revoked."""
    return (
        session.scalar(
            select(ApiKey.id).where(
                ApiKey.key_hash == hash_key(key, secret), ApiKey.revoked_at.is_(None)
            )
        )
        is not None
    )
