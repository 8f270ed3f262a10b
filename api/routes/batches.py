"""``/v1/batches``: submit an archive or several files, follow progress, export results."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api import deletion
from api.batch_export import export_stream
from api.batch_retry import retry_failed_jobs
from api.batch_submission import (
    BatchDeps,
    create_archive_batch,
    create_files_batch,
    create_uploaded_batch,
)
from api.caller import TenantRef
from api.deps import (
    CurrentTenant,
    EngineDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    StoreDep,
    SubmittingTenant,
    TasksDep,
)
from api.idempotency import (
    Created,
    IdempotencyClaim,
    IdempotencyKeyHeader,
    answer_created,
    create_once,
    make_claim,
    request_hash,
)
from api.listing_filters import ListParamsDep, newest_of_tenant
from api.multipart_stream import FormLimits, receive_form
from api.ownership import owned_row
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS, RecognizedQuery
from api.routes.uploads import owned_upload
from api.submission import SubmitOptions, options_from_json, parse_options, with_model_choice
from api.tenant_limits import check_tenant_capacity
from shared import lifecycle
from shared.batches import batch_counts, eta_seconds, progress
from shared.db.models import Batch, BatchItem, BatchStatus, Job, Priority, utcnow
from shared.db.session import transaction
from shared.errors import Conflict, InvalidRequest, UnsupportedMediaType
from shared.exporters import parse_formats
from shared.schemas import (
    MODEL_DESCRIPTION,
    ON_DUPLICATE_DESCRIPTION,
    BatchItemOut,
    BatchItemsPage,
    BatchJobsOut,
    BatchList,
    BatchOut,
    CreateBatchIn,
    ErrorInfo,
    RetryFailedOut,
)
from shared.settings import Settings

router = APIRouter(prefix="/v1/batches", tags=["batches"])
MAX_FILES = 1000
SKIPPED = "skipped"
# Fingerprints name the way the batch was sent: one archive, several files, an upload.
ARCHIVE_ROUTE = "POST /v1/batches archive"
FILES_ROUTE = "POST /v1/batches files"
UPLOAD_ROUTE = "POST /v1/batches upload"
Create = Callable[[IdempotencyClaim | None], str]

CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a zip, 7z, RAR or tar (gzip, bzip2, xz, zstd) archive",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "or several images, PDFs or TIFFs",
                        },
                        "priority": {"type": "string", "enum": ["interactive", "bulk"]},
                        "callback_url": {"type": "string", "format": "uri"},
                        "metadata": {"type": "string", "description": "a JSON object"},
                        "on_duplicate": {
                            "type": "string",
                            "enum": ["process", "reuse", "reject"],
                            "description": ON_DUPLICATE_DESCRIPTION,
                        },
                        "model": {"type": "string", "description": MODEL_DESCRIPTION},
                    },
                }
            },
            "application/json": {"schema": CreateBatchIn.model_json_schema()},
        },
    }
}


def owned_batch(session: Session, tenant: TenantRef, batch_id: str) -> Batch:
    """The tenant's batch; another tenant's is reported missing."""
    return owned_row(session, Batch, tenant, batch_id, "batch")


def batch_out(session: Session, batch: Batch) -> BatchOut:
    """The public view of a batch with its progress."""
    counts = batch_counts(session, batch.id)
    return BatchOut(
        id=batch.id,
        status=batch.status,
        priority=batch.priority,
        filename=batch.filename,
        items_total=batch.items_total,
        items_skipped=batch.items_skipped,
        jobs=BatchJobsOut(**counts.jobs),
        pages_total=counts.pages_total,
        pages_done=counts.pages_done,
        pages_failed=counts.pages_failed,
        progress=progress(batch, counts),
        eta_seconds=eta_seconds(batch, counts, utcnow()),
        error=ErrorInfo.of(batch.error_code, batch.error_message),
        metadata=batch.metadata_,
        on_duplicate=batch.on_duplicate,
        created_at=batch.created_at,
        ingested_at=batch.ingested_at,
        finished_at=batch.finished_at,
    )


def _poll_headers(response: Response, batch: Batch, settings: Settings) -> None:
    if not BatchStatus(batch.status).terminal:
        response.headers["Retry-After"] = str(settings.poll_retry_after_seconds)


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    responses=CONFLICT_PROBLEMS,
    openapi_extra=CREATE_BODY,
    summary="Submit a batch",
)
async def create_batch(
    request: Request,
    response: Response,
    tenant: SubmittingTenant,
    settings: SettingsDep,
    store: StoreDep,
    engine: EngineDep,
    sessions: SessionsDep,
    tasks: TasksDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> BatchOut:
    """An archive (multipart `file`, or JSON `upload_id` from `/v1/uploads`) or several files
    (multipart `files`); each document becomes a job of the batch, priority `bulk` by
    default. With an `Idempotency-Key`, the same request sent again answers with the same
    batch; the key with another request is a 409. `on_duplicate` applies to each document:
    one this tenant uploaded before is processed, becomes a job reusing the earlier result
    (`duplicate_of`), or is skipped as `duplicate_content`; archive members are checked by
    the worker as it reads them."""
    deps = BatchDeps(store, sessions, tasks)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        created = await _create_from_upload(request, tenant, settings, deps, idempotency_key)
    else:
        created = await _create_from_form(request, tenant, settings, deps, idempotency_key, engine)
    answer_created(response, created, f"/v1/batches/{created.resource_id}")
    with transaction(sessions) as session:
        batch = owned_batch(session, tenant, created.resource_id)
        _poll_headers(response, batch, settings)
        return batch_out(session, batch)


def _create_once(
    tenant: TenantRef,
    key: str | None,
    settings: Settings,
    deps: BatchDeps,
    fingerprint: Callable[[], str],
    create: Create,
) -> Created:
    claim = make_claim(tenant.id, key, settings, fingerprint)
    return create_once(deps.sessions, claim, create)


async def _create_from_upload(
    request: Request, tenant: TenantRef, settings: Settings, deps: BatchDeps, key: str | None
) -> Created:
    try:
        body = CreateBatchIn.model_validate_json(await request.body())
    except ValidationError as e:
        raise InvalidRequest(f"invalid batch request: {e.errors()[0]['msg']}") from e
    options = options_from_json(
        body.priority, body.callback_url, body.metadata, settings, body.on_duplicate, body.model
    )
    options = await run_in_threadpool(
        with_model_choice, options, deps.sessions, tenant.id, settings
    )

    def create(claim: IdempotencyClaim | None) -> str:
        with transaction(deps.sessions) as session:
            upload = owned_upload(session, tenant, body.upload_id)
            session.expunge(upload)
        return create_uploaded_batch(tenant, upload, options, deps, claim).id

    def fingerprint() -> str:
        return request_hash(UPLOAD_ROUTE, body.model_dump(mode="json"))

    return await run_in_threadpool(_create_once, tenant, key, settings, deps, fingerprint, create)


async def _create_from_form(
    request: Request,
    tenant: TenantRef,
    settings: Settings,
    deps: BatchDeps,
    key: str | None,
    engine: Engine,
) -> Created:
    limits = FormLimits(
        max_file_bytes=settings.max_batch_upload_bytes,
        repeated_file_field="files",
        max_files=MAX_FILES,
    )
    form = await receive_form(request, limits)
    try:
        options: SubmitOptions = parse_options(form.fields, settings, Priority.BULK)
        options = await run_in_threadpool(
            with_model_choice, options, deps.sessions, tenant.id, settings
        )
        create: Create
        if form.file is not None and not form.files:
            archive, route, files = form.file, ARCHIVE_ROUTE, [form.file]

            def create(claim: IdempotencyClaim | None) -> str:
                return create_archive_batch(tenant, archive, options, deps, claim).id

        elif form.files and form.file is None:
            await run_in_threadpool(
                check_tenant_capacity, engine, tenant.id, settings, len(form.files)
            )
            route, files = FILES_ROUTE, form.files

            def create(claim: IdempotencyClaim | None) -> str:
                return create_files_batch(tenant, files, options, settings, deps, claim).id

        else:
            raise UnsupportedMediaType(
                "send an archive as 'file', several documents as 'files', "
                "or JSON with an 'upload_id'"
            )

        def fingerprint() -> str:
            return request_hash(route, form.fields, files)

        return await run_in_threadpool(
            _create_once, tenant, key, settings, deps, fingerprint, create
        )
    finally:
        form.close()


@router.get("", response_model=BatchList, responses=PROBLEMS, summary="List batches")
def list_batches(tenant: CurrentTenant, session: SessionDep, params: ListParamsDep) -> BatchList:
    """Your batches, newest first, a page at a time, each with its counts and progress; the
    filters combine (all must hold)."""
    batches, next_cursor = newest_of_tenant(session, Batch, "batch", BatchStatus, tenant.id, params)
    return BatchList(items=[batch_out(session, b) for b in batches], next_cursor=next_cursor)


@router.get("/{batch_id}", response_model=BatchOut, responses=PROBLEMS, summary="Get a batch")
def get_batch(
    batch_id: str,
    response: Response,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
) -> BatchOut:
    """Counts by status, pages, progress and ETA; `Retry-After` while it is not finished."""
    batch = owned_batch(session, tenant, batch_id)
    _poll_headers(response, batch, settings)
    return batch_out(session, batch)


def encode_cursor(seq: int) -> str:
    """An opaque cursor after item ``seq``."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The item sequence number a cursor points after; 422 if it was not made here."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "seq":
            raise ValueError(text)
        return int(value)
    except ValueError as e:
        raise InvalidRequest("invalid cursor") from e


@router.get(
    "/{batch_id}/items",
    response_model=BatchItemsPage,
    responses=PROBLEMS,
    summary="List a batch's items",
)
def list_items(
    batch_id: str,
    tenant: CurrentTenant,
    session: SessionDep,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    status: Annotated[str | None, Query(description="skipped, or a job status")] = None,
) -> BatchItemsPage:
    """Items in archive order with their job's status, or `skipped` and the reason."""
    owned_batch(session, tenant, batch_id)
    query = (
        select(BatchItem, Job)
        .outerjoin(Job, Job.id == BatchItem.job_id)
        .where(BatchItem.batch_id == batch_id)
        .order_by(BatchItem.seq)
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(BatchItem.seq > decode_cursor(cursor))
    if status == SKIPPED:
        query = query.where(BatchItem.skip_code.is_not(None))
    elif status is not None:
        query = query.where(Job.status == status)
    rows = session.execute(query).all()
    items = [item_out(item, job) for item, job in rows[:limit]]
    more = len(rows) > limit
    return BatchItemsPage(items=items, next_cursor=encode_cursor(items[-1].seq) if more else None)


def item_out(item: BatchItem, job: Job | None) -> BatchItemOut:
    """One item as the listing shows it."""
    if job is None:
        return BatchItemOut(
            seq=item.seq,
            path=item.path,
            status=SKIPPED,
            error=ErrorInfo.of(item.skip_code or "skipped", item.skip_reason),
        )
    return BatchItemOut(
        seq=item.seq,
        path=item.path,
        status=job.status,
        job_id=job.id,
        pages_total=job.pages_total,
        pages_done=job.pages_done,
        error=ErrorInfo.of(job.error_code, job.error_message),
    )


@router.get(
    "/{batch_id}/export",
    responses={**PROBLEMS, 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
    summary="Export a batch's results",
)
def export_batch(
    batch_id: str,
    tenant: CurrentTenant,
    sessions: SessionsDep,
    store: StoreDep,
    format: Annotated[
        str,
        Query(description="comma-separated: json, txt, hocr, alto, pagexml, pdf, or all"),
    ] = "json",
    recognized: RecognizedQuery = False,
) -> StreamingResponse:
    """A zip streamed as it is built: each item's results under its path in the archive,
    plus `manifest.json`; items still running are exported as far as they got. A `pdf` is
    the item's searchable PDF (as `GET /v1/jobs/{id}/result?format=pdf`); an item whose
    upload cannot be made into one has a `pdf_error` in the manifest instead. Corrected
    lines carry their corrections (`recognized=true`: the engine's text); the PAGE XML of a
    corrected batch is ground truth `quire train` imports."""
    try:
        formats = parse_formats(format)
    except ValueError as e:
        raise InvalidRequest(str(e)) from e
    with transaction(sessions) as session:
        batch = owned_batch(session, tenant, batch_id)
        session.expunge(batch)
    headers = {"Content-Disposition": f'attachment; filename="batch-{batch.id}.zip"'}
    return StreamingResponse(
        export_stream(sessions, store, batch, formats, recognized),
        media_type="application/zip",
        headers=headers,
    )


@router.post(
    "/{batch_id}/retry-failed",
    status_code=202,
    response_model=RetryFailedOut,
    responses=CONFLICT_PROBLEMS,
    summary="Retry a batch's failed pages",
)
def retry_failed(
    batch_id: str,
    tenant: CurrentTenant,
    sessions: SessionsDep,
    tasks: TasksDep,
) -> RetryFailedOut:
    """Queue again the failed pages (and jobs that failed before having pages) of the
    batch's failed and partial jobs; skipped items are not retried."""
    with transaction(sessions) as session:
        batch = owned_batch(session, tenant, batch_id)
        if batch.status == BatchStatus.CANCELED:
            raise Conflict(f"batch {batch_id!r} was canceled; submit its files again instead")
    count = retry_failed_jobs(sessions, tasks, batch_id)
    return RetryFailedOut(batch_id=batch_id, jobs_retried=count)


@router.post(
    "/{batch_id}/cancel",
    response_model=BatchOut,
    responses=CONFLICT_PROBLEMS,
    summary="Cancel a batch",
)
def cancel_batch(
    batch_id: str, tenant: CurrentTenant, sessions: SessionsDep, settings: SettingsDep
) -> BatchOut:
    """Cancel every job of the batch that has not finished and stop reading its archive;
    the batch ends `canceled` (one `batch.completed`). Canceling a canceled batch answers it
    again; a batch that has finished otherwise is a 409 `batch_finished`."""
    with transaction(sessions) as session:
        owned_batch(session, tenant, batch_id)
        lifecycle.cancel_batch(session, batch_id)
    with transaction(sessions) as session:
        return batch_out(session, owned_batch(session, tenant, batch_id))


@router.delete(
    "/{batch_id}",
    status_code=204,
    response_class=Response,
    responses=PROBLEMS,
    summary="Delete a batch",
)
def delete_batch(
    batch_id: str, tenant: CurrentTenant, sessions: SessionsDep, store: StoreDep
) -> Response:
    """Cancel the batch if it still runs, then delete its items, its jobs with their results,
    and every stored object: the archive and each job's file and page images."""
    with transaction(sessions) as session:
        owned_batch(session, tenant, batch_id)
    deletion.delete_batch(sessions, store, batch_id)
    return Response(status_code=204)
