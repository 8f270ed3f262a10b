"""``Idempotency-Key`` on ``POST /v1/jobs`` and ``POST /v1/batches``.

The first request with a key makes its job or batch and records the key in the same
transaction; a repeat with the same request gets the same job or batch back (nothing stored
or queued again); the same key with another request is a 409. Two concurrent requests with
one key are decided by the unique (tenant, key) constraint: the loser's transaction rolls
back, its stored objects are removed, and it answers with the winner's job or batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Annotated, Any

from fastapi import Header, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.multipart_stream import ReceivedFile
from shared.db.models import IdempotencyKey, utcnow
from shared.db.session import transaction
from shared.errors import IdempotencyKeyReused
from shared.settings import Settings

MAX_KEY_LENGTH = 255
HASH_CHUNK = 1024 * 1024
ACCEPTED = 202

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Send the same request again with the same key to get the same job "
        "or batch back instead of a second one (per API tenant, up to 255 characters, "
        "kept for QUIRE_IDEMPOTENCY_TTL_HOURS).",
    ),
]


@dataclass(frozen=True)
class IdempotencyClaim:
    """A key and the fingerprint of the request that presents it."""

    tenant_id: str
    key: str
    request_hash: str
    ttl: timedelta

    def row(self, resource: str, resource_id: str) -> IdempotencyKey:
        """The key's row, to be added in the transaction that creates ``resource_id``."""
        return IdempotencyKey(**self.values(resource, resource_id))

    def values(self, resource: str, resource_id: str) -> dict[str, Any]:
        """The key's column values, for a Core insert in that transaction."""
        now = utcnow()
        return {
            "tenant_id": self.tenant_id,
            "key": self.key,
            "request_hash": self.request_hash,
            "resource": resource,
            "resource_id": resource_id,
            "status_code": ACCEPTED,
            "created_at": now,
            "expires_at": now + self.ttl,
        }


@dataclass(frozen=True)
class Created:
    """The job or batch a request stands for, and whether it was made before."""

    resource_id: str
    status_code: int = ACCEPTED
    replayed: bool = False


def answer_created(response: Response, created: Created, location: str) -> None:
    """The status and headers of a create answer: 202 (or the first answer's status), and
    ``Idempotent-Replayed`` when an earlier request with the key made it."""
    response.status_code = created.status_code
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = location


def file_digest(spool: IO[bytes]) -> str:
    """SHA-256 of a spooled upload; the spool is rewound for whoever reads it next."""
    spool.seek(0)
    digest = hashlib.sha256()
    while chunk := spool.read(HASH_CHUNK):
        digest.update(chunk)
    spool.seek(0)
    return digest.hexdigest()


def request_hash(route: str, fields: Mapping[str, Any], files: Sequence[ReceivedFile] = ()) -> str:
    """The fingerprint of a submission: route, fields (or JSON body), files' names and bytes."""
    described = {
        "route": route,
        "fields": dict(fields),
        "files": [[f.filename, f.size, file_digest(f.spool)] for f in files],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def make_claim(
    tenant_id: str, key: str | None, settings: Settings, fingerprint: Callable[[], str]
) -> IdempotencyClaim | None:
    """The claim of a request that sent a key (``fingerprint`` runs only then)."""
    if key is None:
        return None
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    return IdempotencyClaim(tenant_id, key, fingerprint(), ttl)


def find_earlier(sessions: sessionmaker[Session], claim: IdempotencyClaim) -> Created | None:
    """What an earlier request with this key made; None if the key is new or expired.

    Raises:
        IdempotencyKeyReused: The key came with a different request before.
    """
    with transaction(sessions) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.tenant_id == claim.tenant_id, IdempotencyKey.expires_at <= utcnow()
            )
        )
        row = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.tenant_id == claim.tenant_id, IdempotencyKey.key == claim.key
            )
        )
    if row is None:
        return None
    if row.request_hash != claim.request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was sent before with a different request; "
            "use a new key for a new request"
        )
    return Created(row.resource_id, row.status_code, replayed=True)


def create_once(
    sessions: sessionmaker[Session],
    claim: IdempotencyClaim | None,
    create: Callable[[IdempotencyClaim | None], str],
) -> Created:
    """Run ``create`` unless the claim's key already made something; returns its id.

    ``create`` must add ``claim.row(...)`` in the transaction that makes its job or batch
    and undo what it stored if that transaction fails.
    """
    if claim is None:
        return Created(create(None))
    earlier = find_earlier(sessions, claim)
    if earlier is not None:
        return earlier
    try:
        return Created(create(claim))
    except IntegrityError:
        winner = find_earlier(sessions, claim)  # a concurrent request took the key first
        if winner is None:
            raise
        return winner


def forget(session: Session, claim: IdempotencyClaim | None) -> None:
    """Drop the key again when what it made is undone (the queue refused it, say)."""
    if claim is not None:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.tenant_id == claim.tenant_id, IdempotencyKey.key == claim.key
            )
        )


def forget_resources(session: Session, resource_ids: Sequence[str]) -> None:
    """Drop the keys of deleted jobs or batches, so the keys may make new ones."""
    if resource_ids:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id.in_(resource_ids)))
