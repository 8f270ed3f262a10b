"""``quire submit``: one document becomes a job; an archive or a folder becomes a batch.

Reads top to bottom: find or start the resume state, create the job or batch unless the
state says the server has it, then wait and download as asked. The state file goes once
everything finished; after an interruption the same command picks up where it stopped.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from quire_client.api import QuireApi
from quire_client.errors import ApiError, ClientError, InputError
from quire_client.models import Batch, Job, Resource
from quire_client.packing import (
    ZIP,
    InputKind,
    archive_type,
    classify,
    document_type,
    folder_bytes,
    pack_folder,
)
from quire_client.progress import Progress
from quire_client.results import EXPORT_NAME, SaveReport, download_batch, download_job
from quire_client.state import StateFile, SubmitState, default_state_path, input_signature
from quire_client.summary import final_line
from quire_client.upload import upload_file
from quire_client.waiting import exit_code_for, wait_until_done


@dataclass(frozen=True)
class SubmitOptions:
    """What ``quire submit`` was asked to do."""

    path: Path
    priority: str | None = None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = None  # a model id or shipped name, or detector+recognizer
    wait: bool = False
    out: Path | None = None
    formats: list[str] = field(default_factory=lambda: ["json"])
    state_path: Path | None = None


def run_submit(api: QuireApi, options: SubmitOptions, progress: Progress, stdout: TextIO) -> int:
    """Submit, then wait and download if asked; prints the job or batch id on stdout.

    Returns:
        0 when submitted (or, waiting, succeeded), 3 partial, 4 failed or canceled.
    """
    kind = classify(options.path)
    state_file = StateFile(options.state_path or default_state_path(options.path))
    try:
        state = start_or_resume(state_file, options.path, api.base_url, progress)
        resource = _known(api, state, state_file) or _create(
            api, options, kind, state, state_file, progress
        )
        print(resource.id, file=stdout, flush=True)
        if not (options.wait or options.out):
            progress.note(f"submitted {resource.kind} {resource.id}")
            state_file.remove()
            return 0
        resource = wait_until_done(api, resource, progress)
        progress.note(final_line(resource))
        if options.out is not None:
            _download(api, resource, options.out, options.formats, state, state_file, progress)
    except (KeyboardInterrupt, ClientError):
        if state_file.path.exists():
            progress.note(f"stopped; run the same command again to resume ({state_file.path})")
        raise
    state_file.remove()
    return exit_code_for(resource.status)


def start_or_resume(
    state_file: StateFile, path: Path, server: str, progress: Progress
) -> SubmitState:
    """The stored state if it is about this input, unchanged, on this server; else a new one."""
    signature = input_signature(path)
    state = state_file.load()
    if state is not None and state.matches(path, server, signature):
        progress.note(f"resuming from {state_file.path}")
        return state
    if state is not None:
        progress.note(f"{path} or the server changed since {state_file.path}; starting over")
    state = SubmitState(str(path.resolve()), server, signature)
    state_file.save(state)
    return state


def _known(api: QuireApi, state: SubmitState, state_file: StateFile) -> Resource | None:
    """The job or batch an earlier run created, if any."""
    try:
        if state.job_id is not None:
            return api.get_job(state.job_id)
        if state.batch_id is not None:
            return api.get_batch(state.batch_id)
    except ApiError as e:
        if e.status == 404:
            created = f"job {state.job_id}" if state.job_id else f"batch {state.batch_id}"
            raise InputError(
                f"the server does not know {created} from {state_file.path}; "
                "delete that file to submit again"
            ) from e
        raise
    return None


def _form_fields(options: SubmitOptions) -> dict[str, str]:
    fields = {
        "priority": options.priority,
        "callback_url": options.callback_url,
        "model": options.model,
    }
    found = {name: value for name, value in fields.items() if value is not None}
    if options.metadata is not None:
        found["metadata"] = json.dumps(options.metadata)
    return found


def _create(
    api: QuireApi,
    options: SubmitOptions,
    kind: InputKind,
    state: SubmitState,
    state_file: StateFile,
    progress: Progress,
) -> Resource:
    path = options.path
    if kind == "document":
        with progress.bytes_bar(path.stat().st_size, "upload") as bar:
            job = api.submit_job(
                path,
                fields=_form_fields(options),
                media_type=document_type(path),
                on_bytes=bar.update,
            )
        state.job_id = job.id
        state_file.save(state)
        return job
    if kind == "archive":
        media_type = archive_type(path) or ZIP
        upload_id = upload_file(api, path, media_type, state, state_file, progress)
    else:
        upload_id = _upload_folder(api, path, state, state_file, progress)
    batch = api.create_batch(
        upload_id,
        priority=options.priority or "bulk",
        callback_url=options.callback_url,
        metadata=options.metadata,
        model=options.model,
    )
    state.batch_id = batch.id
    state_file.save(state)
    return batch


def _upload_folder(
    api: QuireApi, folder: Path, state: SubmitState, state_file: StateFile, progress: Progress
) -> str:
    """Pack the folder into a temporary zip and upload it (no packing once it is uploaded)."""
    if state.upload_completed and state.upload_id is not None:
        return state.upload_id
    with tempfile.TemporaryDirectory(prefix="quire-pack-") as scratch:
        zip_path = Path(scratch, f"{folder.resolve().name or 'folder'}.zip")
        with progress.bytes_bar(folder_bytes(folder), "pack") as bar:
            count = pack_folder(folder, zip_path, bar.update)
        progress.note(f"packed {count} files from {folder}")
        return upload_file(api, zip_path, ZIP, state, state_file, progress)


def _download(
    api: QuireApi,
    resource: Resource,
    out: Path,
    formats: list[str],
    state: SubmitState,
    state_file: StateFile,
    progress: Progress,
) -> None:
    def saved(name: str) -> None:
        state.downloaded.append(name)
        state_file.save(state)

    report = _fetch(api, resource, out, formats, state.downloaded, saved, progress)
    progress.note(saved_line(report, out))


def _fetch(
    api: QuireApi,
    resource: Resource,
    out: Path,
    formats: list[str],
    done: list[str],
    saved: Callable[[str], None],
    progress: Progress,
) -> SaveReport:
    if isinstance(resource, Job):
        return download_job(api, resource, formats, out, skip=done, on_saved=saved)
    assert isinstance(resource, Batch)
    if EXPORT_NAME in done:
        return SaveReport()
    report = download_batch(api, resource.id, formats, out, progress)
    saved(EXPORT_NAME)
    return report


def saved_line(report: SaveReport, out: Path) -> str:
    """``saved 12 files to out (3 unchanged)``."""
    return f"saved {report.written} files to {out} ({report.unchanged} unchanged)"
