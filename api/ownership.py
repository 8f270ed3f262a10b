"""A tenant's row by id: another tenant's is reported missing (404), never forbidden, so ids
of other tenants are not confirmed."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from api.caller import TenantRef
from shared.errors import NotFound

Row = TypeVar("Row")


def owned_row(session: Session, table: type[Row], tenant: TenantRef, row_id: str, noun: str) -> Row:
    """The row of ``table`` with id ``row_id`` if it is the tenant's; NotFound otherwise."""
    row: Any = session.get(table, row_id)
    if row is None or row.tenant_id != tenant.id:
        raise NotFound(f"no {noun} {row_id!r}")
    return row
