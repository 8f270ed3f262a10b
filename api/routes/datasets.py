"""``/v1/datasets``: ground truth to train on, an archive of page images with PAGE XML or
ALTO, or a batch's pages with their current text; imported on the CPU queue."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.caller import TenantRef
from api.deps import (
    CurrentTenant,
    SessionDep,
    SessionsDep,
    SettingsDep,
    StoreDep,
    SubmittingTenant,
    TasksDep,
)
from api.idempotency import (
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
from api.routes.batches import owned_batch
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS
from api.routes.uploads import owned_upload
from api.submission import send_or_defer
from shared import media
from shared.db.models import Dataset, DatasetStatus, Training, TrainingStatus, new_id
from shared.db.session import transaction
from shared.errors import Conflict, InvalidRequest, UnsupportedMediaType, UploadIncomplete
from shared.objectkeys import dataset_source_key
from shared.queues import IMPORT_DATASET, import_dataset_payload
from shared.schemas import ErrorInfo
from shared.training_schemas import (
    CreateDatasetIn,
    DatasetList,
    DatasetOut,
    DatasetProblem,
    DatasetStats,
)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
# What Python's tarfile and zipfile read; 7z, RAR and zstd are for OCR batches only.
DATASET_ARCHIVES = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")
FORM_ROUTE = "POST /v1/datasets archive"
JSON_ROUTE = "POST /v1/datasets json"

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
                            "description": "a zip or tar (gzip, bzip2, xz) of page images "
                            "with PAGE XML (2010, 2013, 2019) or ALTO (v2-v4) files",
                        },
                        "name": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": CreateDatasetIn.model_json_schema()},
        },
    }
}


def owned_dataset(session: Session, tenant: TenantRef, dataset_id: str) -> Dataset:
    """The tenant's dataset; another tenant's is reported missing."""
    return owned_row(session, Dataset, tenant, dataset_id, "dataset")


def dataset_out(dataset: Dataset) -> DatasetOut:
    return DatasetOut(
        id=dataset.id,
        name=dataset.name,
        status=dataset.status,
        filename=dataset.filename,
        size_bytes=dataset.size_bytes,
        from_batch=dataset.from_batch_id,
        stats=DatasetStats(**dataset.stats) if dataset.stats else None,
        problems=[DatasetProblem(**p) for p in dataset.problems or []],
        error=ErrorInfo.of(dataset.error_code, dataset.error_message),
        created_at=dataset.created_at,
        ready_at=dataset.ready_at,
    )


def dataset_kind(head: bytes) -> str:
    kind = media.sniff_archive(head)
    if kind not in DATASET_ARCHIVES:
        raise UnsupportedMediaType(
            "a dataset is a zip or tar (gzip, bzip2, xz) of page images with PAGE XML or ALTO"
        )
    return kind


@router.post(
    "",
    status_code=202,
    response_model=DatasetOut,
    responses=CONFLICT_PROBLEMS,
    openapi_extra=CREATE_BODY,
    summary="Create a dataset",
)
async def create_dataset(
    request: Request,
    response: Response,
    tenant: SubmittingTenant,
    settings: SettingsDep,
    store: StoreDep,
    sessions: SessionsDep,
    tasks: TasksDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> DatasetOut:
    """An archive (multipart `file`), or JSON with `from_batch` (the batch's finished pages
    with their current text, corrections included) or `upload_id` (an archive sent with
    `/v1/uploads`). The import runs on the CPU queue: poll until `ready` for its figures;
    files it could not read are listed in `problems`, the rest is kept. With an
    `Idempotency-Key` the same request answers with the same dataset."""

    def commit(dataset: Dataset, claim: IdempotencyClaim | None, stored: str | None) -> str:
        try:
            with transaction(sessions) as session:
                session.add(dataset)
                if claim is not None:
                    session.add(claim.row("dataset", dataset.id))
        except BaseException:
            if stored is not None:
                store.delete(stored)
            raise
        send_or_defer(tasks, IMPORT_DATASET, import_dataset_payload(dataset.id), "bulk")
        return dataset.id

    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = CreateDatasetIn.model_validate_json(await request.body())
        except ValidationError as e:
            raise InvalidRequest(f"invalid dataset request: {e.errors()[0]['msg']}") from e
        if (body.from_batch is None) == (body.upload_id is None):
            raise InvalidRequest("send either 'from_batch' or 'upload_id'")

        def create(claim: IdempotencyClaim | None) -> str:
            dataset = Dataset(id=new_id(), tenant_id=tenant.id, name=body.name)
            with transaction(sessions) as session:
                if body.from_batch is not None:
                    batch = owned_batch(session, tenant, body.from_batch)
                    dataset.from_batch_id, dataset.filename = batch.id, batch.filename
                else:
                    upload = owned_upload(session, tenant, body.upload_id or "")
                    if upload.status != "completed":
                        raise UploadIncomplete("complete the upload before making a dataset of it")
                    dataset.source_key, dataset.filename = upload.key, upload.filename
                    dataset.size_bytes = upload.size_bytes
            if dataset.source_key is not None:
                with store.open_reader(dataset.source_key) as reader:
                    dataset_kind(reader.read(media.ARCHIVE_SNIFF_BYTES))
            dataset.name = dataset.name or dataset.filename
            return commit(dataset, claim, None)

        def fingerprint() -> str:
            return request_hash(JSON_ROUTE, body.model_dump(mode="json"))

    else:
        form = await receive_form(
            request, FormLimits(max_file_bytes=settings.max_batch_upload_bytes)
        )
        if form.file is None:
            form.close()
            raise UnsupportedMediaType("send the dataset's archive as 'file'")
        archive = form.file
        name = form.fields.get("name", "")[:200]

        def create(claim: IdempotencyClaim | None) -> str:
            kind = dataset_kind(archive.head)
            dataset_id = new_id()
            key = dataset_source_key(tenant.id, dataset_id, media.ARCHIVE_EXTENSIONS[kind])
            store.put_stream(key, archive.spool, "application/octet-stream")
            dataset = Dataset(
                id=dataset_id,
                tenant_id=tenant.id,
                name=name or archive.filename[:200],
                source_key=key,
                filename=archive.filename[:512],
                size_bytes=archive.size,
                content_sha256=archive.content_sha256,
            )
            return commit(dataset, claim, key)

        def fingerprint() -> str:
            return request_hash(FORM_ROUTE, form.fields, [archive])

    try:
        claim = await run_in_threadpool(
            make_claim, tenant.id, idempotency_key, settings, fingerprint
        )
        created = await run_in_threadpool(create_once, sessions, claim, create)
    finally:
        if not request.headers.get("content-type", "").startswith("application/json"):
            form.close()
    answer_created(response, created, f"/v1/datasets/{created.resource_id}")
    with transaction(sessions) as session:
        return dataset_out(owned_dataset(session, tenant, created.resource_id))


@router.get("", response_model=DatasetList, responses=PROBLEMS, summary="List datasets")
def list_datasets(tenant: CurrentTenant, session: SessionDep, params: ListParamsDep) -> DatasetList:
    """Your datasets, newest first, a page at a time (filters: status, created after/before)."""
    if params.metadata:
        raise InvalidRequest("datasets have no metadata to filter on")
    rows, next_cursor = newest_of_tenant(
        session, Dataset, "dataset", DatasetStatus, tenant.id, params
    )
    return DatasetList(items=[dataset_out(d) for d in rows], next_cursor=next_cursor)


@router.get("/{dataset_id}", response_model=DatasetOut, responses=PROBLEMS, summary="Get a dataset")
def get_dataset(
    dataset_id: str, tenant: CurrentTenant, session: SessionDep, response: Response
) -> DatasetOut:
    dataset = owned_dataset(session, tenant, dataset_id)
    if dataset.status == DatasetStatus.IMPORTING:
        response.headers["Retry-After"] = "2"
    return dataset_out(dataset)


@router.delete(
    "/{dataset_id}",
    status_code=204,
    responses=CONFLICT_PROBLEMS,
    summary="Delete a dataset",
)
def delete_dataset(
    dataset_id: str, tenant: SubmittingTenant, sessions: SessionsDep, store: StoreDep
) -> Response:
    """The dataset and its archive; refused (409 `conflict`) while a training uses it. Models
    trained on it stay (their lineage keeps the dataset's SHA-256)."""
    with transaction(sessions) as session:
        dataset = owned_dataset(session, tenant, dataset_id)
        active = session.scalar(
            select(Training.id).where(
                (Training.dataset_id == dataset.id)
                | (Training.validation_dataset_id == dataset.id),
                Training.status.in_([TrainingStatus.QUEUED.value, TrainingStatus.RUNNING.value]),
            )
        )
        if active is not None:
            raise Conflict(f"training {active} uses the dataset; cancel it or wait for its end")
        key = dataset.source_key
        session.delete(dataset)
    if key is not None and "/datasets/" in key:  # an upload's object stays the upload's
        store.delete(key)
    return Response(status_code=204)
