"""FastAPI dependencies: settings, DB session, store, task sender and the caller's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope

from api.caller import Caller, TenantRef
from api.context import ApiContext
from api.key_usage import record_last_used
from api.presign import Presigner
from api.rate_limit import retry_after_seconds
from api.rate_limiter import remember_headers
from api.tenant_limits import admitted_by_estimate, check_tenant_capacity
from shared.apikeys import hash_key
from shared.db.models import ApiKey, Tenant, utcnow
from shared.db.session import transaction
from shared.errors import InvalidRequest, MissingScope, RateLimited, Unauthorized
from shared.key_lifecycle import is_expired
from shared.key_scopes import KeyScope, format_scopes, parse_scopes, scope_for_method
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.task_sender import TaskSender

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.quire
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


# The dependencies below do no I/O: ``async def`` keeps them on the event loop, where a
# plain ``def`` would cost a trip to the thread pool on every request.
async def refuse_nul_in_url(request: Request) -> None:
    """Ids and query values are looked up in the database, whose text cannot hold NUL."""
    # The raw scope: building ``request.url`` on every request costs more than this check.
    if "\x00" in request.scope["path"] or b"%00" in request.scope["query_string"]:
        raise InvalidRequest("the URL contains a NUL character (%00)")


async def get_settings(context: ContextDep) -> Settings:
    return context.settings


async def get_engine(context: ContextDep) -> Engine:
    return context.engine


async def get_sessions(context: ContextDep) -> sessionmaker[Session]:
    return context.sessions


async def get_store(context: ContextDep) -> ObjectStore:
    return context.store


async def get_tasks(context: ContextDep) -> TaskSender:
    return context.tasks


async def get_presigner(context: ContextDep) -> Presigner:
    return context.presigner


SettingsDep = Annotated[Settings, Depends(get_settings)]
PresignerDep = Annotated[Presigner, Depends(get_presigner)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
TasksDep = Annotated[TaskSender, Depends(get_tasks)]


def get_session(sessions: SessionsDep) -> Iterator[Session]:
    """One transaction per request, committed when the route returns without error."""
    with transaction(sessions) as session:
        yield session


# "function": commit before the response is sent, so a failed commit is the client's error
# response instead of a 2xx for something that was never stored (the "request" default
# runs the exit code after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header_key: Annotated[str | None, Security(api_key_scheme)],
) -> str:
    """The API key from ``Authorization: Bearer`` or ``X-API-Key``."""
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthorized(
            "send your API key as 'Authorization: Bearer <key>' or 'X-API-Key'", reason="missing"
        )
    return key


def look_up_caller(context: ApiContext, digest: str) -> Caller:
    """The tenant, key id, scopes and expiry of the key with this digest.

    Raises:
        Unauthorized: the key is unknown or revoked (401, ``reason`` says which).
    """
    # The lookup is by a keyed hash the caller cannot choose, so SQL equality leaks nothing.
    with transaction(context.sessions) as session:
        row = session.execute(
            select(
                Tenant.id.label("tenant_id"),
                Tenant.name.label("tenant_name"),
                ApiKey.id.label("key_id"),
                ApiKey.scopes,
                ApiKey.expires_at,
                ApiKey.revoked_at,
            )
            .join(ApiKey, ApiKey.tenant_id == Tenant.id)
            .where(ApiKey.key_hash == digest)
        ).first()
    if row is None:
        raise Unauthorized("the API key is not valid", reason="unknown")
    if row.revoked_at is not None:
        raise Unauthorized("the API key has been revoked", reason="revoked")
    caller = Caller(
        tenant=TenantRef(id=row.tenant_id, name=row.tenant_name),
        key_id=row.key_id,
        scopes=parse_scopes(row.scopes),
        expires_at=row.expires_at,
    )
    context.callers.put(digest, caller)
    return caller


async def identify(context: ApiContext, key: str) -> Caller:
    """The caller presenting ``key``: verified within ``QUIRE_API_KEY_CACHE_SECONDS`` (no
    I/O), or looked up in the database in the thread pool; its use recorded once a minute.

    Raises:
        Unauthorized: the key is unknown, revoked or expired (401).
    """
    digest = hash_key(key, context.settings.secret_key)
    caller = context.callers.get(digest)
    if caller is None:
        caller = await run_in_threadpool(look_up_caller, context, digest)
    now = utcnow()
    refuse_expired(caller, now)
    if context.key_usage.due(caller.key_id):
        interval = context.key_usage.interval
        await run_in_threadpool(record_last_used, context.engine, caller.key_id, now, interval)
    return caller


def refuse_expired(caller: Caller, now: datetime) -> None:
    """Refuse a key past its expiry, even one verified a moment ago.

    Raises:
        Unauthorized: the key has expired (401, ``reason`` ``expired``).
    """
    expires_at = caller.expires_at
    if expires_at is not None and is_expired(expires_at, now):
        raise Unauthorized(
            f"the API key expired at {expires_at.isoformat()}; ask for a new one",
            reason="expired",
            expired_at=expires_at.isoformat(),
        )


def check_scope(caller: Caller, required: KeyScope) -> None:
    """Refuse a key without the scope a route needs.

    Raises:
        MissingScope: the key lacks ``required`` (403, the scope named in the body).
    """
    if required not in caller.scopes:
        held = format_scopes(caller.scopes) or "none"
        raise MissingScope(
            f"this API key lacks the {required.value!r} scope (it has: {held})",
            required_scope=required.value,
            key_scopes=sorted(caller.scopes),
        )


async def admit(context: ApiContext, key: str, scope: Scope, required: KeyScope) -> Caller:
    """The caller, once its key's request rate allows one more request and the key holds
    the ``required`` scope.

    Every step stays on the event loop unless it needs the database: the per-request cost
    of a trip to the thread pool is larger than the checks themselves.

    Raises:
        Unauthorized: the key is unknown, revoked or expired (401).
        RateLimited: the key has used up its rate (429 with ``Retry-After``).
        MissingScope: the key lacks the scope (403).
    """
    caller = await identify(context, key)
    limiter = context.rate_limiter
    decision = await limiter.check(caller.key_id)
    if decision is not None:
        remember_headers(scope, limiter.headers(decision))
        if not decision.allowed:
            raise RateLimited(
                "this API key has sent too many requests; retry after the Retry-After delay",
                retry_after=retry_after_seconds(decision),
            )
    check_scope(caller, required)
    return caller


async def current_tenant(
    key: Annotated[str, Depends(presented_key)], request: Request, context: ContextDep
) -> TenantRef:
    """The caller's tenant, its key checked (``read`` to read, ``submit`` to write) and its
    request rate counted."""
    return (await admit(context, key, request.scope, scope_for_method(request.method))).tenant


CurrentTenant = Annotated[TenantRef, Depends(current_tenant)]


async def current_caller(
    key: Annotated[str, Depends(presented_key)], request: Request, context: ContextDep
) -> Caller:
    """As ``current_tenant``, for routes that record which key acted (line corrections)."""
    return await admit(context, key, request.scope, scope_for_method(request.method))


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def admin_tenant(
    key: Annotated[str, Depends(presented_key)], request: Request, context: ContextDep
) -> TenantRef:
    """The tenant of a caller whose key holds the ``admin`` scope (key management)."""
    return (await admit(context, key, request.scope, KeyScope.ADMIN)).tenant


AdminTenant = Annotated[TenantRef, Depends(admin_tenant)]


async def submitting_tenant(
    key: Annotated[str, Depends(presented_key)], request: Request, context: ContextDep
) -> TenantRef:
    """The tenant of a submission (``submit`` scope) that has room for one more job,
    checked before the body is read (so a client that waits for ``100 Continue`` never
    sends it).

    Raises:
        TenantLimitReached: the tenant's jobs or pages in flight are at a limit (429).
    """
    tenant = (await admit(context, key, request.scope, KeyScope.SUBMIT)).tenant
    await admit_submission(context, tenant)
    return tenant


async def admit_submission(context: ApiContext, tenant: TenantRef) -> None:
    """Refuse one more job when the tenant's work in flight is at a limit (an estimate kept
    per process first, the database when the estimate is near the limit).

    Raises:
        TenantLimitReached: the tenant's jobs or pages in flight are at a limit (429).
    """
    settings, estimates = context.settings, context.in_flight
    if not admitted_by_estimate(tenant.id, settings, estimates):
        await run_in_threadpool(
            check_tenant_capacity, context.engine, tenant.id, settings, 1, estimates
        )


SubmittingTenant = Annotated[TenantRef, Depends(submitting_tenant)]
