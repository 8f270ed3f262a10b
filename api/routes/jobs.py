"""``/v1/jobs``: submit a file, poll its job, fetch its result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from api import deletion
from api.batch_retry import retry_failed_job
from api.caller import TenantRef
from api.context import ApiContext
from api.deps import (
    ContextDep,
    CurrentTenant,
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
from api.listing_filters import ListParams, ListParamsDep, newest_of_tenant
from api.multipart_stream import FormLimits, ReceivedForm, receive_form
from api.ownership import owned_row
from api.pdf_export import PDF_MEDIA_TYPE, PDFA_HEADER, build_job_pdf, pdf_headers
from api.rate_limit import RATE_LIMIT_HEADERS
from api.submission import (
    SubmitOptions,
    check_upload,
    create_job,
    options_from_json,
    parse_options,
    with_model_choice,
)
from api.upload_jobs import check_stored_upload, create_uploaded_job
from shared import lifecycle
from shared.corrections import corrected_texts
from shared.db.models import Job, JobStatus, Page, Upload
from shared.db.session import transaction
from shared.errors import InvalidRequest, NotFound
from shared.exporters import FORMATS, export
from shared.exporters.pagexml import render_pages
from shared.results import build_result
from shared.schemas import (
    MODEL_DESCRIPTION,
    ON_DUPLICATE_DESCRIPTION,
    CreateJobIn,
    ErrorInfo,
    JobList,
    JobOut,
    ProblemOut,
    ResultOut,
)
from shared.storage import ObjectStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"model": ProblemOut, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 413, 415, 422, 429, 503)
}
PROBLEMS[403]["description"] = "`missing_scope`: the API key lacks the scope the route needs"
PROBLEMS[429]["description"] = (
    "`rate_limited` (the key's request rate) or `tenant_limit` (too much work in flight)"
)
PROBLEMS[429]["headers"] = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    **{
        name: {"description": what, "schema": {"type": "string"}}
        for name, what in RATE_LIMIT_HEADERS.items()
    },
}
# Routes that can answer 409: an idempotency key sent with another request, a finished
# job or batch canceled, an upload not complete, a duplicate upload under on_duplicate=reject.
CONFLICT_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    409: {"model": ProblemOut, "content": {"application/problem+json": {}}},
}
SUBMIT_ROUTE = "POST /v1/jobs"

SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PNG, JPEG, TIFF, WebP, BMP, GIF or PDF",
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
            "application/json": {"schema": CreateJobIn.model_json_schema()},
        },
    }
}
UPLOAD_ROUTE = "POST /v1/jobs upload"


def job_out(job: Job) -> JobOut:
    """The public view of a job row."""
    return JobOut(
        id=job.id,
        status=job.status,
        priority=job.priority,
        filename=job.filename,
        media_type=job.media_type,
        pages_total=job.pages_total,
        pages_done=job.pages_done,
        pages_failed=job.pages_failed,
        error=ErrorInfo.of(job.error_code, job.error_message),
        batch_id=job.batch_id,
        metadata=job.metadata_,
        content_sha256=job.content_sha256,
        duplicate_of=job.duplicate_of,
        models=job.model_choice,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def owned_job(session: Session, tenant: TenantRef, job_id: str, *, lock: bool = False) -> Job:
    """The tenant's job; another tenant's job is reported as missing, not forbidden."""
    job = lifecycle.lock_job(session, job_id) if lock else session.get(Job, job_id)
    if job is None or job.tenant_id != tenant.id:
        raise NotFound(f"no job {job_id!r}")
    return job


def _poll_headers(response: Response, job: Job, settings: SettingsDep) -> None:
    if not JobStatus(job.status).terminal:
        response.headers["Retry-After"] = str(settings.poll_retry_after_seconds)


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses=CONFLICT_PROBLEMS,
    openapi_extra=SUBMIT_BODY,
    summary="Submit an image for OCR",
)
async def submit_job(
    request: Request,
    response: Response,
    tenant: SubmittingTenant,
    context: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobOut:
    """Upload one file (multipart field `file`), or name one sent through `/v1/uploads`
    (JSON `upload_id`); the job is processed asynchronously.

    With an `Idempotency-Key`, the same request sent again answers with the same job
    (nothing is stored or queued twice); the key with another request is a 409.
    A file this tenant uploaded before follows `on_duplicate`: with `reuse` the answer is a
    new job already `succeeded`, its `duplicate_of` naming the earlier job; with `reject` a
    409 `duplicate_upload` whose `duplicate_of` names it (not for an `upload_id`: the API
    never reads that whole file)."""
    settings = context.settings
    if request.headers.get("content-type", "").startswith("application/json"):
        created, job = await submit_from_upload(request, context, tenant, idempotency_key)
        answer_created(response, created, f"/v1/jobs/{job.id}")
        _poll_headers(response, job, settings)
        return job_out(job)
    form = await receive_form(request, FormLimits(max_file_bytes=settings.max_upload_bytes))
    try:
        options = parse_options(form.fields, settings)
        created, job = await run_in_threadpool(
            submit_upload, context, tenant, form, options, idempotency_key
        )
    finally:
        form.close()
    answer_created(response, created, f"/v1/jobs/{job.id}")
    _poll_headers(response, job, settings)
    return job_out(job)


def submit_upload(
    context: ApiContext,
    tenant: TenantRef,
    form: ReceivedForm,
    options: SubmitOptions,
    idempotency_key: str | None,
) -> tuple[Created, Job]:
    """Every blocking step of a submission, in one trip to the thread pool: check the
    upload, then make its job once per idempotency key (or find the job made before)."""
    upload = form.file
    checked = check_upload(upload, context.settings)
    options = with_model_choice(options, context.sessions, tenant.id, context.settings)
    assert upload is not None
    claim = make_claim(
        tenant.id,
        idempotency_key,
        context.settings,
        lambda: request_hash(SUBMIT_ROUTE, form.fields, [upload]),
    )
    return job_once(
        context,
        tenant,
        claim,
        lambda c: create_job(
            tenant=tenant,
            upload=upload,
            checked=checked,
            options=options,
            store=context.store,
            engine=context.engine,
            tasks=context.tasks,
            claim=c,
        ),
    )


def job_once(
    context: ApiContext,
    tenant: TenantRef,
    claim: IdempotencyClaim | None,
    make: Callable[[IdempotencyClaim | None], Job],
) -> tuple[Created, Job]:
    """The job ``make`` inserts, once per idempotency claim; a replay answers the job made
    the first time."""
    made: list[Job] = []

    def create(c: IdempotencyClaim | None) -> str:
        made.append(make(c))
        return made[0].id

    created = create_once(context.sessions, claim, create)
    if made and made[0].id == created.resource_id:
        return created, made[0]
    with transaction(context.sessions) as session:  # a replay: the job made the first time
        return created, owned_job(session, tenant, created.resource_id)


async def submit_from_upload(
    request: Request, context: ApiContext, tenant: TenantRef, idempotency_key: str | None
) -> tuple[Created, Job]:
    """The JSON form of a submission: a job over a completed presigned upload."""
    try:
        body = CreateJobIn.model_validate_json(await request.body())
    except ValidationError as e:
        raise InvalidRequest(f"invalid job request: {e.errors()[0]['msg']}") from e
    settings = context.settings
    options = options_from_json(
        body.priority, body.callback_url, body.metadata, settings, None, body.model
    )
    return await run_in_threadpool(
        _submit_upload_id, context, tenant, body, options, idempotency_key
    )


def _submit_upload_id(
    context: ApiContext,
    tenant: TenantRef,
    body: CreateJobIn,
    options: SubmitOptions,
    idempotency_key: str | None,
) -> tuple[Created, Job]:
    options = with_model_choice(options, context.sessions, tenant.id, context.settings)
    with transaction(context.sessions) as session:
        upload = owned_row(session, Upload, tenant, body.upload_id, "upload")
        session.expunge(upload)
    checked = check_stored_upload(upload, context.store, context.settings)
    claim = make_claim(
        tenant.id,
        idempotency_key,
        context.settings,
        lambda: request_hash(UPLOAD_ROUTE, body.model_dump(mode="json")),
    )
    return job_once(
        context,
        tenant,
        claim,
        lambda c: create_uploaded_job(
            tenant=tenant,
            upload=upload,
            checked=checked,
            options=options,
            engine=context.engine,
            tasks=context.tasks,
            claim=c,
        ),
    )


@router.get("", response_model=JobList, responses=PROBLEMS, summary="List jobs")
def list_jobs(
    tenant: CurrentTenant,
    session: SessionDep,
    params: ListParamsDep,
    batch_id: Annotated[str | None, Query(description="only this batch's jobs")] = None,
) -> JobList:
    """Your jobs, newest first, a page at a time; the filters combine (all must hold)."""
    jobs, next_cursor = tenant_jobs(session, tenant.id, params, batch_id)
    return JobList(items=[job_out(job) for job in jobs], next_cursor=next_cursor)


def tenant_jobs(
    session: Session, tenant_id: str, params: ListParams, batch_id: str | None = None
) -> tuple[Sequence[Job], str | None]:
    """A page of the tenant's jobs, newest first (the API's listing and the UI's jobs page)."""

    def of_batch(query: Select[Any]) -> Select[Any]:
        return query.where(Job.batch_id == batch_id)

    narrow = of_batch if batch_id is not None else None
    return newest_of_tenant(session, Job, "job", JobStatus, tenant_id, params, narrow)


@router.get("/{job_id}", response_model=JobOut, responses=PROBLEMS, summary="Get a job")
def get_job(
    job_id: str,
    response: Response,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
) -> JobOut:
    """The job's status and page counts; `Retry-After` is set while it is not finished."""
    job = owned_job(session, tenant, job_id)
    _poll_headers(response, job, settings)
    return job_out(job)


RESULT_RESPONSES: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    200: {
        "description": "JSON, or the document in the chosen format",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ResultOut"}},
            "text/plain": {},
            "text/html": {},
            "application/xml": {},
            PDF_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
        "headers": {
            PDFA_HEADER: {
                "description": "with `pdfa=true`: `valid` (a validator approved the PDF/A-2b "
                "file), `invalid` (it did not: the file is a plain PDF, see "
                f"`{PDFA_HEADER}-Detail`) or `unvalidated` (no validator could decide)",
                "schema": {"type": "string", "enum": ["valid", "invalid", "unvalidated"]},
            },
            f"{PDFA_HEADER}-Validator": {
                "description": "which validator judged it: `verapdf` or `pikepdf`",
                "schema": {"type": "string"},
            },
        },
    },
}
ResultFormat = Literal["json", "txt", "hocr", "alto", "pagexml", "pdf"]
RecognizedQuery = Annotated[
    bool,
    Query(description="`true`: the text as the engine recognized it, without corrections"),
]
FORMAT_DESCRIPTION = (
    "`json` (default), `txt`, `hocr`, `alto`, `pagexml` (one page: see `page`), or `pdf`: "
    "the uploaded pages unchanged (an image's encoded bytes, a PDF's own pages) with the "
    "text as an invisible, searchable layer beneath, built when asked for"
)


@router.get(
    "/{job_id}/result",
    response_model=ResultOut,
    responses=RESULT_RESPONSES,
    summary="Get a result",
)
def get_result(
    job_id: str,
    response: Response,
    tenant: CurrentTenant,
    sessions: SessionsDep,
    settings: SettingsDep,
    store: StoreDep,
    format: Annotated[ResultFormat, Query(description=FORMAT_DESCRIPTION)] = "json",
    page: Annotated[
        int, Query(ge=0, description="PAGE XML holds one page: which one (0-based)")
    ] = 0,
    pdfa: Annotated[
        bool,
        Query(description="with `format=pdf`: make it PDF/A-2b (see the `X-Quire-PDFA` header)"),
    ] = False,
    recognized: RecognizedQuery = False,
) -> ResultOut | Response:
    """The recognized text; pages appear as they finish, so it can be read while running.
    Lines corrected since (`PATCH .../lines/{k}`) carry their newest text and
    `corrected: true`, in every format, unless `recognized=true`."""
    job, result = load_result(sessions, tenant, job_id, recognized)
    _poll_headers(response, job, settings)
    if format == "json":
        return result
    return render_result(store, job, result, format, page, pdfa, dict(response.headers))


def load_result(
    sessions: sessionmaker[Session], tenant: TenantRef, job_id: str, recognized: bool
) -> tuple[Job, ResultOut]:
    """The tenant's job and its result, with corrections unless ``recognized``; in its own
    short transaction (a PDF takes a while to build, without holding a connection)."""
    with transaction(sessions) as session:
        job = owned_job(session, tenant, job_id)
        pages = session.scalars(select(Page).where(Page.job_id == job.id)).all()
        corrections = {} if recognized else corrected_texts(session, [job.id]).get(job.id, {})
        return job, build_result(job, pages, corrections)


def render_result(
    store: ObjectStore,
    job: Job,
    result: ResultOut,
    format: ResultFormat,
    page: int,
    pdfa: bool,
    headers: dict[str, str],
) -> Response:
    """A result in a document format (``json`` as a JSON document); the API's result route
    and the web UI's downloads both answer with it."""
    if format == "json":
        return Response(result.model_dump_json(), media_type="application/json", headers=headers)
    if format == "pdf":
        built = build_job_pdf(store, job, result, pdfa=pdfa)
        return StreamingResponse(
            built.chunks(),
            media_type=PDF_MEDIA_TYPE,
            headers={**headers, **pdf_headers(job, built)},
        )
    if format == "pagexml":
        documents = render_pages(result, job.filename)
        if page >= len(documents):
            raise NotFound(f"job {job.id!r} has no page {page}")
        body = documents[page]
    else:
        body = export(result, format, job.filename)
    return Response(body, media_type=FORMATS[format].media_type, headers=headers)


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses=CONFLICT_PROBLEMS,
    summary="Cancel a job",
)
def cancel_job(job_id: str, tenant: CurrentTenant, sessions: SessionsDep) -> JobOut:
    """Queued pages are dropped; a page already running finishes (its result is kept) but
    the job stays `canceled`. Canceling a canceled job answers it again; a job that has
    finished otherwise is a 409 `job_finished`."""
    with transaction(sessions) as session:
        job = owned_job(session, tenant, job_id, lock=True)
        lifecycle.cancel_job(session, job)
    return job_out(job)


@router.post(
    "/{job_id}/retry-failed",
    status_code=202,
    response_model=JobOut,
    responses=CONFLICT_PROBLEMS,
    summary="Retry a job's failed pages",
)
def retry_failed(
    job_id: str, tenant: CurrentTenant, sessions: SessionsDep, tasks: TasksDep
) -> JobOut:
    """Queue the failed pages of a `failed` or `partial` job again (all of it, if it failed
    before having pages); its batch runs again. Any other job is a 409 `conflict`, and so is
    a job of a canceled batch."""
    with transaction(sessions) as session:
        owned_job(session, tenant, job_id)
    retry_failed_job(sessions, tasks, job_id)
    with transaction(sessions) as session:
        return job_out(owned_job(session, tenant, job_id))


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    responses=PROBLEMS,
    summary="Delete a job",
)
def delete_job(
    job_id: str, tenant: CurrentTenant, sessions: SessionsDep, store: StoreDep
) -> Response:
    """Cancel the job if it still runs, then delete its pages, results and every stored
    object (the file and its page images); it is a 404 afterwards."""
    with transaction(sessions) as session:
        owned_job(session, tenant, job_id)
    deletion.delete_job(sessions, store, job_id)
    return Response(status_code=204)
