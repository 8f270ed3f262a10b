"""The filters ``GET /v1/jobs`` and ``GET /v1/batches`` share: status, creation time and a
metadata key's value."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.pagination import DEFAULT_PAGE, CursorQuery, LimitQuery, newest_first
from shared.errors import InvalidRequest

METADATA_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_METADATA_FILTERS = 5

StatusQuery = Annotated[
    list[str] | None,
    Query(description="only these statuses (repeat the parameter, or separate with commas)"),
]
AfterQuery = Annotated[
    datetime | None, Query(description="created at or after this time (ISO 8601)")
]
BeforeQuery = Annotated[datetime | None, Query(description="created before this time (ISO 8601)")]
MetadataQuery = Annotated[
    list[str] | None,
    Query(
        description="`key=value`: only those whose metadata holds this value under this key "
        "(a string, or a number as JSON spells it; the key of letters, digits, `_`, `.`, `-`); "
        "repeat to require several",
    ),
]


@dataclass(frozen=True)
class ListFilters:
    """Validated listing filters; ``apply`` narrows a query on a jobs or batches table."""

    statuses: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(
        cls,
        statuses: type[StrEnum],
        status: list[str] | None,
        created_after: datetime | None,
        created_before: datetime | None,
        metadata: list[str] | None,
    ) -> ListFilters:
        """Check the query parameters; a bad one is a 422 naming it."""
        known = {s.value for s in statuses}
        wanted = tuple(dict.fromkeys(s.strip() for v in status or [] for s in v.split(",")))
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise InvalidRequest(
                f"unknown status {', '.join(map(repr, unknown))}; one of {', '.join(sorted(known))}"
            )
        after, before = _aware(created_after), _aware(created_before)
        if after is not None and before is not None and after >= before:
            raise InvalidRequest("created_after must be earlier than created_before")
        pairs: list[tuple[str, str]] = []
        for item in metadata or []:
            key, sep, value = item.partition("=")
            if not sep or not METADATA_KEY.fullmatch(key):
                raise InvalidRequest(
                    f"metadata filter {item!r} is not key=value with a key of letters, digits, "
                    "'_', '.' or '-' (at most 64)"
                )
            pairs.append((key, value))
        if len(pairs) > MAX_METADATA_FILTERS:
            raise InvalidRequest(f"at most {MAX_METADATA_FILTERS} metadata filters")
        return cls(wanted, after, before, tuple(pairs))

    def apply(self, query: Select[Any], table: Any) -> Select[Any]:
        """``query`` narrowed to the rows of ``table`` (Job or Batch) these filters keep."""
        if self.statuses:
            query = query.where(table.status.in_(self.statuses))
        if self.created_after is not None:
            query = query.where(table.created_at >= self.created_after)
        if self.created_before is not None:
            query = query.where(table.created_at < self.created_before)
        for key, value in self.metadata:
            query = query.where(table.metadata_[key].as_string() == value)
        return query


@dataclass(frozen=True)
class ListParams:
    """A listing's query parameters as sent (checked by ``newest_of_tenant``)."""

    cursor: str | None = None
    limit: int = DEFAULT_PAGE
    status: list[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: list[str] | None = None


def list_params(
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
    status: StatusQuery = None,
    created_after: AfterQuery = None,
    created_before: BeforeQuery = None,
    metadata: MetadataQuery = None,
) -> ListParams:
    """The parameters every listing takes, as one dependency."""
    return ListParams(cursor, limit, status, created_after, created_before, metadata)


ListParamsDep = Annotated[ListParams, Depends(list_params)]


def newest_of_tenant(
    session: Session,
    table: Any,
    kind: str,
    statuses: type[StrEnum],
    tenant_id: str,
    params: ListParams,
    narrow: Callable[[Select[Any]], Select[Any]] | None = None,
) -> tuple[Sequence[Any], str | None]:
    """A page of the tenant's rows of ``table`` (Job or Batch), newest first, filtered by
    ``params`` (and ``narrow``), with the next page's cursor."""
    filters = ListFilters.parse(
        statuses, params.status, params.created_after, params.created_before, params.metadata
    )
    query = filters.apply(select(table).where(table.tenant_id == tenant_id), table)
    if narrow is not None:
        query = narrow(query)
    return newest_first(
        session,
        query,
        kind=kind,
        moment=table.created_at,
        row_id=table.id,
        cursor=params.cursor,
        limit=params.limit,
    )


def _aware(moment: datetime | None) -> datetime | None:
    """A query time as the models compare it: timezone-aware, a naive one taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
