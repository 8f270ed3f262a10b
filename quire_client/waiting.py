"""``--wait``: poll a job, batch, dataset or training until it ends; the exit codes it gives.

One polling loop for every resource: it waits what ``Retry-After`` asks (at most 5 s) and
tolerates a few consecutive failed polls (server restarting, network blip).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from quire_client.api import QuireApi
from quire_client.errors import ClientError, ServerUnreachable
from quire_client.models import Resource
from quire_client.progress import Progress
from quire_client.retry import POLL_ERRORS_TOLERATED, backoff_seconds, poll_delay
from quire_client.summary import bar_postfix, pages_processed

EXIT_SUCCEEDED, EXIT_PARTIAL, EXIT_FAILED = 0, 3, 4
EXIT_CODES = {"succeeded": EXIT_SUCCEEDED, "partial": EXIT_PARTIAL}


class Pollable(Protocol):
    """What the loop needs of a resource: whether it ended, and the wait the server asked."""

    @property
    def terminal(self) -> bool: ...

    @property
    def retry_after(self) -> float | None: ...


P = TypeVar("P", bound=Pollable)


def exit_code_for(status: str) -> int:
    """0 succeeded, 3 partial, 4 failed or canceled (or anything else that ended badly)."""
    return EXIT_CODES.get(status, EXIT_FAILED)


def poll_until_terminal(
    api: QuireApi,
    resource: P,
    refresh: Callable[[P], P],
    progress: Progress,
    on_each: Callable[[P], None] | None = None,
) -> P:
    """Poll with ``refresh`` until the resource is terminal, calling ``on_each`` on every state.

    Returns:
        The terminal resource.

    Raises:
        ClientError: A poll failed for a reason that will not pass, or too many in a row did.
    """
    failures = 0
    while True:
        if on_each is not None:
            on_each(resource)
        if resource.terminal:
            return resource
        api.sleep(poll_delay(resource.retry_after))
        try:
            resource = refresh(resource)
            failures = 0
        except ClientError as e:
            failures += 1
            transient = e.retryable or isinstance(e, ServerUnreachable)
            if not transient or failures >= POLL_ERRORS_TOLERATED:
                raise
            progress.note(f"polling failed ({e}); trying again")
            api.sleep(backoff_seconds(failures))


def _show(bar: tqdm[Any], resource: Resource) -> None:
    if resource.pages_total and bar.total != resource.pages_total:
        bar.total = resource.pages_total
    bar.n = pages_processed(resource)
    bar.set_postfix_str(bar_postfix(resource), refresh=False)
    bar.refresh()


def wait_until_done(api: QuireApi, resource: Resource, progress: Progress) -> Resource:
    """Poll a job or batch until it is terminal, with a bar of pages processed.

    Returns:
        The terminal job or batch.
    """
    bar = progress.count_bar(resource.pages_total or None, f"{resource.kind} {resource.id}", "page")
    with bar:
        return poll_until_terminal(api, resource, api.refresh, progress, lambda r: _show(bar, r))
