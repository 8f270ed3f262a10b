"""``/v1/keys``: the tenant's API keys, managed with a key that holds the ``admin`` scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminTenant, ContextDep, SessionDep, SettingsDep
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS
from shared.db.models import ApiKey, utcnow
from shared.key_lifecycle import (
    KEY_NAME_PATTERN,
    MAX_EXPIRY_DAYS,
    MAX_NAME_CHARS,
    KeySpec,
    expiry_after,
    find_key,
    issue_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from shared.key_scopes import DEFAULT_SCOPES, KeyScope, parse_scopes

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyOut(BaseModel):
    """An API key as its tenant sees it: never the key itself nor its hash."""

    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    scopes: list[KeyScope]
    created_at: datetime
    expires_at: datetime | None = Field(description="null: the key does not expire")
    last_used_at: datetime | None = Field(description="to within about a minute")
    revoked_at: datetime | None


class CreatedKeyOut(KeyOut):
    """A new key, with its secret: this response is the only place it is ever shown."""

    secret: str = Field(description="send it as `Authorization: Bearer <secret>`")


class KeyList(BaseModel):
    items: list[KeyOut]


class CreateKeyIn(BaseModel):
    """``POST /v1/keys``: a new key for the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=MAX_NAME_CHARS, pattern=KEY_NAME_PATTERN)
    scopes: list[KeyScope] = Field(
        default_factory=lambda: sorted(DEFAULT_SCOPES),
        min_length=1,
        description="`read` (GET routes), `submit` (writes), `admin` (these key routes)",
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_EXPIRY_DAYS, description="null: the key does not expire"
    )


class RotateKeyIn(BaseModel):
    """``POST /v1/keys/{id}/rotate``: optionally a new lifetime for the replacement."""

    model_config = ConfigDict(extra="forbid")

    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_EXPIRY_DAYS, description="null: the old key's expiry is kept"
    )


def key_out(row: ApiKey) -> KeyOut:
    """The public view of a key row."""
    return KeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=sorted(parse_scopes(row.scopes)),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def created_out(row: ApiKey, secret: str, response: Response) -> CreatedKeyOut:
    """The answer to a new key: its view, its secret, and its ``Location``."""
    response.headers["Location"] = f"/v1/keys/{row.id}"
    return CreatedKeyOut(**key_out(row).model_dump(), secret=secret)


@router.get("", response_model=KeyList, responses=PROBLEMS, summary="List API keys")
def list_tenant_keys(
    tenant: AdminTenant,
    session: SessionDep,
    include_revoked: Annotated[bool, Query()] = True,
) -> KeyList:
    """The tenant's keys, newest first: prefix, name, scopes, expiry, last use, revocation."""
    rows = list_keys(session, tenant.id, include_revoked=include_revoked)
    return KeyList(items=[key_out(row) for row in rows])


@router.post(
    "",
    status_code=201,
    response_model=CreatedKeyOut,
    responses=PROBLEMS,
    summary="Create an API key",
)
def create_key(
    body: CreateKeyIn,
    response: Response,
    tenant: AdminTenant,
    session: SessionDep,
    settings: SettingsDep,
) -> CreatedKeyOut:
    """A new key of the tenant; its `secret` is in this response and nowhere else."""
    spec = KeySpec(
        name=body.name,
        scopes=frozenset(body.scopes),
        expires_at=expiry_after(body.expires_in_days, utcnow()),
    )
    row, secret = issue_key(session, tenant.id, settings.secret_key, spec)
    return created_out(row, secret, response)


@router.get("/{key_id}", response_model=KeyOut, responses=PROBLEMS, summary="Get an API key")
def get_key(key_id: str, tenant: AdminTenant, session: SessionDep) -> KeyOut:
    """One of the tenant's keys; another tenant's is a 404."""
    return key_out(find_key(session, key_id, tenant.id))


@router.delete(
    "/{key_id}",
    response_model=KeyOut,
    responses=CONFLICT_PROBLEMS,
    summary="Revoke an API key",
)
def revoke_tenant_key(
    key_id: str, tenant: AdminTenant, session: SessionDep, context: ContextDep
) -> KeyOut:
    """Revoke a key: refused at once by this API process, by every other one within
    `QUIRE_API_KEY_CACHE_SECONDS`; 409 `key_already_revoked` the second time."""
    row = revoke_key(session, key_id, tenant.id)
    context.callers.forget_key(row.id)
    return key_out(row)


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=CreatedKeyOut,
    responses=CONFLICT_PROBLEMS,
    summary="Rotate an API key",
)
def rotate_tenant_key(
    key_id: str,
    response: Response,
    tenant: AdminTenant,
    session: SessionDep,
    settings: SettingsDep,
    context: ContextDep,
    body: RotateKeyIn | None = None,
) -> CreatedKeyOut:
    """A new key with the same name, scopes and expiry (unless `expires_in_days` is given),
    and the old one revoked; the new `secret` is shown in this response only."""
    days = body.expires_in_days if body is not None else None
    row, secret = rotate_key(session, key_id, settings.secret_key, tenant.id, expires_in_days=days)
    context.callers.forget_key(key_id)
    return created_out(row, secret, response)
