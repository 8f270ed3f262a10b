"""``quire jobs``, ``batches``, ``datasets list`` and ``trainings list``: a tenant's resources,
newest first, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from quire_client.api import QuireApi
from quire_client.errors import ClientError
from quire_client.models import Batch, Job
from quire_client.summary import format_duration
from quire_client.training_resources import Dataset, Training
from quire_client.training_text import dataset_header, dataset_row, training_header, training_row

# The server's largest page; the client asks for no more rows than it will print.
MAX_PAGE = 200
Listed = Job | Batch | Dataset | Training
PATHS = {
    "job": "/v1/jobs",
    "batch": "/v1/batches",
    "dataset": "/v1/datasets",
    "training": "/v1/trainings",
}
PARSERS: dict[str, Callable[[dict[str, Any]], Listed]] = {
    "job": Job.from_json,
    "batch": Batch.from_json,
    "dataset": Dataset.from_json,
    "training": Training.from_json,
}


@dataclass(frozen=True)
class ListQuery:
    """What to list and how many (``limit`` None: every row)."""

    kind: str  # "job", "batch", "dataset" or "training"
    statuses: list[str] = field(default_factory=list)
    created_after: str | None = None
    created_before: str | None = None
    batch_id: str | None = None
    metadata: list[str] = field(default_factory=list)
    limit: int | None = 20

    @property
    def path(self) -> str:
        return PATHS[self.kind]

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


def rows(pages: Iterator[list[dict[str, Any]]], query: ListQuery) -> Iterator[Listed]:
    """The listing's resources, page after page, until ``query.limit`` rows."""
    parse = PARSERS[query.kind]
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


def table_line(resource: Listed) -> str:
    """One row of the table: id, status, counts, created, name."""
    created = str(resource.raw.get("created_at") or "")[:19].replace("T", " ")
    if isinstance(resource, Dataset):
        return dataset_row(resource, created)
    if isinstance(resource, Training):
        return training_row(resource, created)
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
    if kind == "dataset":
        return dataset_header()
    if kind == "training":
        return training_header()
    if kind == "job":
        return f"{'id':<36}  {'status':<9}  {'pages':<13}  {'created (UTC)':<19}  file"
    return f"{'id':<36}  {'status':<9}  {'items':<10} done  {'created (UTC)':<19}  file"


def add_list_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """The options of a listing command; metadata filters only where the resource has some."""
    parser.set_defaults(kind=kind)
    parser.add_argument(
        "--status", action="append", default=[], help="only this status (repeatable)"
    )
    parser.add_argument("--after", help="created at or after (ISO 8601, UTC if no zone)")
    parser.add_argument("--before", help="created before (ISO 8601, UTC if no zone)")
    if kind in ("job", "batch"):
        parser.add_argument(
            "--metadata", action="append", default=[], metavar="KEY=VALUE", help="(repeatable)"
        )
    if kind == "job":
        parser.add_argument("--batch", help="only this batch's jobs")
    parser.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
    parser.add_argument("--all", action="store_true", help="every row, page after page")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


def query_of(args: argparse.Namespace) -> ListQuery:
    """The query the options of ``add_list_options`` ask for."""
    if args.limit < 1:
        raise ClientError("--limit must be at least 1")
    return ListQuery(
        kind=args.kind,
        statuses=args.status,
        created_after=args.after,
        created_before=args.before,
        batch_id=getattr(args, "batch", None),
        metadata=getattr(args, "metadata", []),
        limit=None if args.all else args.limit,
    )


def print_listing(api: QuireApi, query: ListQuery, as_json: bool, out: TextIO) -> None:
    """Print the listing as a table, or as one JSON object a line."""
    listed = rows(api.list_pages(query.path, query.params(), page_size(query)), query)
    if not as_json:
        print(header(query.kind), file=out)
    for resource in listed:
        print(json.dumps(resource.raw) if as_json else table_line(resource), file=out)
