"""A job from a presigned upload (``POST /v1/jobs`` with JSON ``upload_id``): the object is
already in the store, so it becomes the job's source as it is (nothing is copied).

Its type is sniffed from the object's first bytes and a raster image's header is checked, as
for a file sent in the request. The API never reads the whole object, so no SHA-256 is
recorded and ``on_duplicate`` does not apply to such a job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from api.caller import TenantRef
from api.idempotency import IdempotencyClaim
from api.job_rows import insert_job_rows
from api.submission import CheckedUpload, SubmitOptions, enqueue_prepare, new_job, send_or_defer
from shared import media
from shared.db.models import Job, Upload, UploadStatus
from shared.errors import EmptyUpload, UnsupportedMediaType, UploadIncomplete
from shared.imageinfo import inspect_image
from shared.queues import OCR_PAGE, ocr_page_payload
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.task_sender import TaskSender


@dataclass(frozen=True)
class StoredFile:
    """What a job row needs to know of an uploaded object."""

    filename: str
    size: int


def check_stored_upload(upload: Upload, store: ObjectStore, settings: Settings) -> CheckedUpload:
    """The completed upload's type from its magic bytes; raster images get a header check.

    Raises:
        UploadIncomplete: the upload is not completed yet (409).
        UnsupportedMediaType: not an image, PDF or TIFF (an archive belongs in a batch).
    """
    if upload.status != UploadStatus.COMPLETED:
        raise UploadIncomplete("complete the upload before making a job of it")
    if upload.size_bytes == 0:
        raise EmptyUpload("the uploaded file is empty")
    with store.open_reader(upload.key) as reader:
        kind = media.sniff(reader.read(media.SNIFF_BYTES))
        if kind is None:
            accepted = ", ".join(m.mime for m in media.ACCEPTED)
            raise UnsupportedMediaType(
                f"the file is not a supported type ({accepted}); send an archive as a batch"
            )
        if not kind.raster:
            return CheckedUpload(kind)
        reader.seek(0)
        info = inspect_image(reader, settings.max_image_pixels)
    return CheckedUpload(kind, single_page=info.frames == 1 and kind.mime not in media.MULTI_PAGE)


def create_uploaded_job(
    *,
    tenant: TenantRef,
    upload: Upload,
    checked: CheckedUpload,
    options: SubmitOptions,
    engine: Engine,
    tasks: TaskSender,
    claim: IdempotencyClaim | None = None,
) -> Job:
    """Insert the job row (with page 0 for a one-page image) over the uploaded object and
    send its first task; returns the job as inserted (not bound to a session)."""
    job = new_job(tenant, StoredFile(upload.filename, upload.size_bytes), checked, options)
    job.source_key = upload.key
    insert_job_rows(engine, job, first_page=checked.single_page, claim=claim)
    if checked.single_page:
        send_or_defer(tasks, OCR_PAGE, ocr_page_payload(job.id, 0), job.priority)
    else:
        enqueue_prepare(tasks, job)
    return job
