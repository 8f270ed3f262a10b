"""Presigned multipart upload of one file, resumable.

The server says how the file is cut into parts and which parts it already holds; only the
missing parts are sent, each retried a few times, and the ETags go to ``complete`` in order.
"""

from __future__ import annotations

from pathlib import Path

from quire_client.api import QuireApi
from quire_client.errors import ApiError, ClientError
from quire_client.models import Upload, UploadPart
from quire_client.progress import Progress
from quire_client.retry import PART_ATTEMPTS, retry_wait
from quire_client.state import StateFile, SubmitState
from quire_client.streams import CountedBody, ProgressHook, file_chunks

EXPIRED_URL_STATUSES = frozenset({401, 403})


def upload_file(
    api: QuireApi,
    path: Path,
    content_type: str,
    state: SubmitState,
    state_file: StateFile,
    progress: Progress,
) -> str:
    """Send ``path`` through ``/v1/uploads``, resuming the upload the state names.

    Returns:
        The id of the completed upload.
    """
    upload = _resume_or_start(api, path, content_type, state, state_file, progress)
    if not upload.completed:
        etags = send_missing_parts(api, upload, path, progress)
        api.complete_upload(upload.id, etags)
    state.upload_completed = True
    state_file.save(state)
    return upload.id


def _resume_or_start(
    api: QuireApi,
    path: Path,
    content_type: str,
    state: SubmitState,
    state_file: StateFile,
    progress: Progress,
) -> Upload:
    size = path.stat().st_size
    if state.upload_id is not None:
        try:
            upload = api.get_upload(state.upload_id)
        except ApiError as e:
            if e.status != 404:
                raise
            progress.note(f"upload {state.upload_id} is gone from the server; starting over")
        else:
            if upload.size_bytes == size:
                return upload
    upload = api.create_upload(path.name, size, content_type)
    state.upload_id, state.upload_completed = upload.id, False
    state_file.save(state)
    return upload


def stored_etags(upload: Upload) -> dict[int, str]:
    """The ETags of the parts the store holds whole (a part of the wrong size is resent)."""
    sizes = {part.number: part.size for part in upload.parts}
    return {p.number: p.etag for p in upload.uploaded_parts if sizes.get(p.number) == p.size}


def send_missing_parts(
    api: QuireApi, upload: Upload, path: Path, progress: Progress
) -> dict[int, str]:
    """``PUT`` every part the store lacks; returns the ETags of all parts by number."""
    etags = stored_etags(upload)
    stored = sum(part.size for part in upload.parts if part.number in etags)
    with progress.bytes_bar(upload.size_bytes, "upload") as bar:
        bar.update(stored)
        for part in upload.parts:
            if part.number not in etags:
                etags[part.number] = send_part(api, upload, part, path, bar.update)
    return etags


def send_part(
    api: QuireApi, upload: Upload, part: UploadPart, path: Path, on_bytes: ProgressHook
) -> str:
    """One part, retried on network errors, 429 and 5xx; an expired URL is renewed first.

    Returns:
        The part's ETag.
    """
    offset = (part.number - 1) * upload.part_size
    body = CountedBody(lambda: file_chunks(path, offset, part.size), on_bytes)
    target = part
    for attempt in range(1, PART_ATTEMPTS + 1):
        try:
            return api.put_part(target.url, target.headers, body, part.size)
        except ClientError as e:
            body.rewind()
            expired = isinstance(e, ApiError) and e.status in EXPIRED_URL_STATUSES
            if attempt == PART_ATTEMPTS or not (e.retryable or expired):
                raise
            if expired:
                target = _fresh_part(api, upload.id, part.number)
            api.sleep(retry_wait(attempt, getattr(e, "retry_after", None)))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _fresh_part(api: QuireApi, upload_id: str, number: int) -> UploadPart:
    for part in api.get_upload(upload_id).parts:
        if part.number == number:
            return part
    raise ClientError(f"upload {upload_id} no longer has a part {number}")
