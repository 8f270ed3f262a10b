"""``--wait``: poll a job or batch until it ends, with a processing bar; its exit code."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from quire_client.api import QuireApi
from quire_client.errors import ClientError, ServerUnreachable
from quire_client.models import Resource
from quire_client.progress import Progress
from quire_client.retry import POLL_ERRORS_TOLERATED, backoff_seconds, poll_delay
from quire_client.summary import bar_postfix, pages_processed

EXIT_SUCCEEDED, EXIT_PARTIAL, EXIT_FAILED = 0, 3, 4
EXIT_CODES = {"succeeded": EXIT_SUCCEEDED, "partial": EXIT_PARTIAL}


def exit_code_for(status: str) -> int:
    """0 succeeded, 3 partial, 4 failed or canceled (or anything else that ended badly)."""
    return EXIT_CODES.get(status, EXIT_FAILED)


def _show(bar: tqdm[Any], resource: Resource) -> None:
    if resource.pages_total and bar.total != resource.pages_total:
        bar.total = resource.pages_total
    bar.n = pages_processed(resource)
    bar.set_postfix_str(bar_postfix(resource), refresh=False)
    bar.refresh()


def wait_until_done(api: QuireApi, resource: Resource, progress: Progress) -> Resource:
    """Poll until the job or batch is terminal; waits what ``Retry-After`` asks, up to 5 s.

    A few consecutive failed polls (server restarting, network blip) are tolerated.

    Returns:
        The terminal job or batch.
    """
    failures = 0
    bar = progress.count_bar(resource.pages_total or None, f"{resource.kind} {resource.id}", "page")
    with bar:
        while True:
            _show(bar, resource)
            if resource.terminal:
                return resource
            api.sleep(poll_delay(resource.retry_after))
            try:
                resource = api.refresh(resource)
                failures = 0
            except ClientError as e:
                failures += 1
                transient = e.retryable or isinstance(e, ServerUnreachable)
                if not transient or failures >= POLL_ERRORS_TOLERATED:
                    raise
                progress.note(f"polling failed ({e}); trying again")
                api.sleep(backoff_seconds(failures))
