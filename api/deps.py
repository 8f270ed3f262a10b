"""FastAPI dependencies: settings, DB session, store, queue producer and the caller's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.context import ApiContext
from api.presign import Presigner
from api.rate_limit import retry_after_seconds
from api.rate_limiter import remember_headers
from shared.apikeys import hash_key
from shared.db.models import ApiKey, Tenant
from shared.db.session import transaction
from shared.errors import InvalidRequest, RateLimited, Unauthorized
from shared.settings import Settings
from shared.storage import ObjectStore

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.quire
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def refuse_nul_in_url(request: Request) -> None:
    """Ids and query values are looked up in the database, whose text cannot hold NUL."""
    if "\x00" in request.url.path or any("\x00" in v for v in request.query_params.values()):
        raise InvalidRequest("the URL contains a NUL character (%00)")


def get_settings(context: ContextDep) -> Settings:
    return context.settings


def get_sessions(context: ContextDep) -> sessionmaker[Session]:
    return context.sessions


def get_store(context: ContextDep) -> ObjectStore:
    return context.store


def get_producer(context: ContextDep) -> Celery:
    return context.producer


def get_presigner(context: ContextDep) -> Presigner:
    return context.presigner


SettingsDep = Annotated[Settings, Depends(get_settings)]
PresignerDep = Annotated[Presigner, Depends(get_presigner)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
ProducerDep = Annotated[Celery, Depends(get_producer)]


def get_session(sessions: SessionsDep) -> Iterator[Session]:
    """One transaction per request, committed when the route returns without error."""
    with transaction(sessions) as session:
        yield session


# "function": commit before the response is sent, so a failed commit is the client's error
# response instead of a 2xx for something that was never stored (the "request" default
# runs the exit code after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header_key: Annotated[str | None, Security(api_key_scheme)],
) -> str:
    """The API key from ``Authorization: Bearer`` or ``X-API-Key``."""
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>' or 'X-API-Key'")
    return key


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the tenant and the id of the key it used."""

    tenant: Tenant
    key_id: str


def authenticated_caller(
    key: Annotated[str, Depends(presented_key)], settings: SettingsDep, sessions: SessionsDep
) -> Caller:
    """The tenant and key id of the presented key; unknown or revoked keys are refused."""
    digest = hash_key(key, settings.secret_key)
    # The lookup is by a keyed hash the caller cannot choose, so SQL equality leaks nothing.
    with transaction(sessions) as session:
        row = session.execute(
            select(Tenant, ApiKey.id)
            .join(ApiKey, ApiKey.tenant_id == Tenant.id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
        ).first()
    if row is None:
        raise Unauthorized("the API key is not valid")
    return Caller(tenant=row[0], key_id=row[1])


def current_tenant(
    caller: Annotated[Caller, Depends(authenticated_caller)],
    request: Request,
    context: ContextDep,
) -> Tenant:
    """The caller's tenant, once its key's request rate allows one more request.

    Raises:
        RateLimited: the key has used up its rate (429 with ``Retry-After``).
    """
    limiter = context.rate_limiter
    decision = limiter.check(caller.key_id)
    if decision is None:
        return caller.tenant
    remember_headers(request.scope, limiter.headers(decision))
    if not decision.allowed:
        raise RateLimited(
            "this API key has sent too many requests; retry after the Retry-After delay",
            retry_after=retry_after_seconds(decision),
        )
    return caller.tenant


CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
