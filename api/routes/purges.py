"""``/v1/purges``: the receipts of what was purged, by retention or by ``DELETE``."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.pagination import DEFAULT_PAGE, CursorQuery, LimitQuery, newest_first
from api.routes.jobs import PROBLEMS
from shared.db.models import PurgedObject, PurgeReceipt, Tenant
from shared.errors import NotFound
from shared.retention import retention_of

router = APIRouter(prefix="/v1", tags=["purges"])


class RetentionOut(BaseModel):
    """How long the tenant's finished jobs and batches are kept."""

    days: int | None = Field(description="null: kept until deleted")
    source: Literal["tenant", "default"] = Field(
        description="`tenant`: set for this tenant; `default`: the server's QUIRE_RETENTION_DAYS"
    )


class PurgeOut(BaseModel):
    """A receipt: what one purge removed. It names objects only by the SHA-256 of their key
    and keeps no content; it stays after the data is gone."""

    id: str
    resource: Literal["job", "batch"]
    resource_id: str = Field(description="the purged job's or batch's id")
    reason: Literal["retention", "delete"]
    retention_days: int | None = Field(description="the period that ran out (reason retention)")
    requested_at: datetime
    completed_at: datetime | None = Field(description="null while a big batch is purged")
    objects_deleted: int = Field(description="stored objects removed, every version of each")
    jobs_deleted: int
    pages_deleted: int
    object_key_sha256: list[str] = Field(description="SHA-256 (hex) of each removed key, sorted")


class PurgeList(BaseModel):
    """A page of receipts, newest first; pass ``next_cursor`` to get the next."""

    retention: RetentionOut
    items: list[PurgeOut]
    next_cursor: str | None = None


def receipt_out(receipt: PurgeReceipt, digests: list[str]) -> PurgeOut:
    """The public view of a receipt row and its objects' hashes."""
    return PurgeOut(
        id=receipt.id,
        resource=receipt.resource,
        resource_id=receipt.resource_id,
        reason=receipt.reason,
        retention_days=receipt.retention_days,
        requested_at=receipt.requested_at,
        completed_at=receipt.completed_at,
        objects_deleted=receipt.objects_deleted,
        jobs_deleted=receipt.jobs_deleted,
        pages_deleted=receipt.pages_deleted,
        object_key_sha256=sorted(digests),
    )


def _digests(session: Session, receipt_ids: list[str]) -> dict[str, list[str]]:
    rows = session.execute(
        select(PurgedObject.receipt_id, PurgedObject.key_sha256).where(
            PurgedObject.receipt_id.in_(receipt_ids)
        )
    ).all()
    found: dict[str, list[str]] = defaultdict(list)
    for receipt_id, digest in rows:
        found[receipt_id].append(digest)
    return found


@router.get(
    "/purges",
    response_model=PurgeList,
    responses=PROBLEMS,
    summary="List purge receipts",
)
def list_purges(
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
    resource_id: Annotated[str | None, Query(description="only this job's or batch's")] = None,
) -> PurgeList:
    """Your receipts, newest first: a job or batch purged because its retention ran out
    (`retention`) or because it was deleted (`delete`), with counts and the SHA-256 of each
    removed object's key. `retention` is how long your finished work is kept."""
    row = session.get(Tenant, tenant.id)
    if row is None:
        raise NotFound("no such tenant")
    policy = retention_of(row, settings.retention_days)
    query = select(PurgeReceipt).where(PurgeReceipt.tenant_id == tenant.id)
    if resource_id:
        query = query.where(PurgeReceipt.resource_id == resource_id)
    page, next_cursor = newest_first(
        session,
        query,
        kind="purge",
        moment=PurgeReceipt.requested_at,
        row_id=PurgeReceipt.id,
        cursor=cursor,
        limit=limit,
    )
    digests = _digests(session, [r.id for r in page])
    return PurgeList(
        retention=RetentionOut(
            days=policy.days, source="default" if policy.from_default else "tenant"
        ),
        items=[receipt_out(r, digests.get(r.id, [])) for r in page],
        next_cursor=next_cursor,
    )
