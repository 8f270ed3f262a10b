"""``quire jobs`` and ``quire batches``: a tenant's jobs or batches, newest first, as a table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from quire_client.models import Batch, Job, Resource
from quire_client.summary import format_duration

# The server's largest page; the client asks for no more rows than it will print.
MAX_PAGE = 200


@dataclass(frozen=True)
class ListQuery:
    """What to list and how many (``limit`` None: every row)."""

    kind: str  # "job" or "batch"
    statuses: list[str] = field(default_factory=list)
    created_after: str | None = None
    created_before: str | None = None
    batch_id: str | None = None
    metadata: list[str] = field(default_factory=list)
    limit: int | None = 20

    @property
    def path(self) -> str:
        return "/v1/jobs" if self.kind == "job" else "/v1/batches"

    def params(self) -> dict[str, Any]:
        """The query string of the first page (the cursor is added for the next ones)."""
        params: dict[str, Any] = {}
        if self.statuses:
            params["status"] = self.statuses
        if self.created_after:
            params["created_after"] = self.created_after
        if self.created_before:
            params["created_before"] = self.created_before
        if self.batch_id and self.kind == "job":
            params["batch_id"] = self.batch_id
        if self.metadata:
            params["metadata"] = self.metadata
        return params


def rows(pages: Iterator[list[dict[str, Any]]], query: ListQuery) -> Iterator[Resource]:
    """The listing's resources, page after page, until ``query.limit`` rows."""
    parse = Job.from_json if query.kind == "job" else Batch.from_json
    if query.limit is not None and query.limit < 1:
        return
    count = 0
    for page in pages:
        for body in page:
            yield parse(body)
            count += 1
            if count == query.limit:
                return  # before the next page is asked for


def page_size(query: ListQuery) -> int:
    """Rows to ask for a page: no more than will be printed."""
    return MAX_PAGE if query.limit is None else max(1, min(MAX_PAGE, query.limit))


def table_line(resource: Resource) -> str:
    """One row of the table: id, status, counts, created, name."""
    created = str(resource.raw.get("created_at") or "")[:19].replace("T", " ")
    name = resource.filename or ""
    if isinstance(resource, Job):
        pages = f"{resource.pages_done}/{resource.pages_total} pages"
        return f"{resource.id}  {resource.status:<9}  {pages:<13}  {created}  {name}"
    items = f"{resource.items_total} items"
    done = f"{100 * resource.progress:.0f}%"
    eta = "" if resource.terminal else f" eta {format_duration(resource.eta_seconds)}"
    return f"{resource.id}  {resource.status:<9}  {items:<10} {done:>4}{eta}  {created}  {name}"


def header(kind: str) -> str:
    """The table's first line."""
    if kind == "job":
        return f"{'id':<36}  {'status':<9}  {'pages':<13}  {'created (UTC)':<19}  file"
    return f"{'id':<36}  {'status':<9}  {'items':<10} done  {'created (UTC)':<19}  file"
