"""Jobs and batches in words: the status command's summary, the bar's postfix, final lines."""

from __future__ import annotations

from quire_client.models import Batch, Job, Resource

JOB_COUNT_ORDER = ("queued", "running", "succeeded", "partial", "failed", "canceled")


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``1h02m``, ``320`` -> ``5m20s``, ``7`` -> ``7s``; None -> ``?``."""
    if seconds is None:
        return "?"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def pages_processed(resource: Resource) -> int:
    """Pages finished either way: done or failed."""
    return resource.pages_done + resource.pages_failed


def percent(resource: Resource) -> float:
    """Progress in percent: the batch's own figure, else pages processed of pages known."""
    if isinstance(resource, Batch):
        return 100.0 * resource.progress
    if resource.pages_total <= 0:
        return 100.0 if resource.terminal else 0.0
    return 100.0 * pages_processed(resource) / resource.pages_total


def job_counts(batch: Batch) -> str:
    """``25 succeeded, 3 running`` (counts of zero left out)."""
    counts = [f"{batch.jobs[name]} {name}" for name in JOB_COUNT_ORDER if batch.jobs.get(name)]
    return ", ".join(counts) or "none yet"


def bar_postfix(resource: Resource) -> str:
    """What the processing bar shows after the counts."""
    if isinstance(resource, Job):
        return resource.status
    return (
        f"{resource.status}; items {resource.items_total} ({resource.items_skipped} skipped); "
        f"jobs {job_counts(resource)}; eta {format_duration(resource.eta_seconds)}"
    )


def final_line(resource: Resource) -> str:
    """One line that says how a job or batch ended (or stands)."""
    pages = (
        f"{resource.pages_done} of {resource.pages_total} pages done, "
        f"{resource.pages_failed} failed"
    )
    line = f"{resource.kind} {resource.id}: {resource.status}; {pages}"
    if isinstance(resource, Batch):
        line += f"; {resource.items_total} items, {resource.items_skipped} skipped"
    if resource.error:
        line += f"; error {resource.error}"
    return line


def describe(resource: Resource) -> str:
    """The human summary ``quire status`` prints."""
    name = f" ({resource.filename})" if resource.filename else ""
    lines = [f"{resource.kind} {resource.id}{name}: {resource.status}"]
    if isinstance(resource, Batch):
        lines.append(f"  items: {resource.items_total} ({resource.items_skipped} skipped)")
        lines.append(f"  jobs: {job_counts(resource)}")
    lines.append(
        f"  pages: {resource.pages_done} done, {resource.pages_failed} failed, "
        f"{resource.pages_total} in all ({percent(resource):.1f}%)"
    )
    if isinstance(resource, Batch) and not resource.terminal:
        lines.append(f"  eta: {format_duration(resource.eta_seconds)}")
    if resource.error:
        lines.append(f"  error: {resource.error}")
    return "\n".join(lines)
