"""Web UI sessions: a random token in the browser's cookie, its SHA-256 in ``ui_sessions``.

A session acts as the API key it was made from: a revoked or expired key ends it at once,
and it never outlives the key. Signing out deletes the row, so a copied cookie stops working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.caller import Caller, TenantRef
from shared.db.models import ApiKey, Tenant, UiSession, utcnow
from shared.db.session import transaction
from shared.key_scopes import parse_scopes


@dataclass(frozen=True)
class SignedIn:
    """Who a session acts as, and the CSRF token its forms must carry."""

    caller: Caller
    csrf_token: str
    key_name: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    sessions: sessionmaker[Session], caller: Caller, hours: float, now: datetime | None = None
) -> tuple[str, datetime]:
    """A new session for ``caller``: the cookie's token (shown once) and when it ends."""
    now = now or utcnow()
    ends = now + timedelta(hours=hours)
    if caller.expires_at is not None:
        ends = min(ends, caller.expires_at)
    token = secrets.token_urlsafe(32)
    with transaction(sessions) as session:
        session.add(
            UiSession(
                id=token_digest(token),
                key_id=caller.key_id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=ends,
            )
        )
    return token, ends


def signed_in(
    sessions: sessionmaker[Session], token: str | None, now: datetime | None = None
) -> SignedIn | None:
    """The session of a cookie's token; None if there is none, it ended, or its key was
    revoked or has expired."""
    if not token:
        return None
    now = now or utcnow()
    with transaction(sessions) as session:
        row = session.execute(
            select(UiSession, ApiKey, Tenant)
            .join(ApiKey, ApiKey.id == UiSession.key_id)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(UiSession.id == token_digest(token))
        ).first()
        if row is None:
            return None
        ui_session, key, tenant = row
        ended = ui_session.expires_at <= now or key.revoked_at is not None
        if ended or (key.expires_at is not None and key.expires_at <= now):
            session.delete(ui_session)
            return None
        caller = Caller(
            tenant=TenantRef(id=tenant.id, name=tenant.name),
            key_id=key.id,
            scopes=parse_scopes(key.scopes),
            expires_at=key.expires_at,
        )
        return SignedIn(caller, ui_session.csrf_token, key.name or tenant.name)


def end_session(sessions: sessionmaker[Session], token: str) -> None:
    """Sign out: the token no longer opens anything."""
    with transaction(sessions) as session:
        session.execute(delete(UiSession).where(UiSession.id == token_digest(token)))
