"""``/v1/uploads``: presigned (multipart) uploads, so big archives never pass through the API."""

from __future__ import annotations

import hmac
import tempfile
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.caller import TenantRef
from api.deps import CurrentTenant, PresignerDep, SessionDep, SessionsDep, SettingsDep, StoreDep
from api.multipart_stream import SPOOL_IN_MEMORY
from api.ownership import owned_row
from api.presign import (
    LocalPresigner,
    PartPlan,
    Presigner,
    local_etag,
    part_signature,
    plan_parts,
)
from api.routes.jobs import PROBLEMS
from shared.db.models import Upload, UploadStatus, new_id, utcnow
from shared.db.session import transaction
from shared.errors import InvalidRequest, NotFound, Unauthorized, UploadTooLarge
from shared.objectkeys import upload_key, upload_part_key
from shared.schemas import CompleteUploadIn, CreateUploadIn, UploadOut
from shared.settings import Settings

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
GB = 1024**3


def owned_upload(session: Session, tenant: TenantRef, upload_id: str) -> Upload:
    """The tenant's upload; another tenant's is reported missing."""
    return owned_row(session, Upload, tenant, upload_id, "upload")


def upload_out(
    upload: Upload, presigner: Presigner, settings: Settings, with_parts: bool = True
) -> UploadOut:
    """The public view of an upload, with fresh URLs while it is pending."""
    pending = upload.status == UploadStatus.PENDING and with_parts
    expiry = settings.upload_url_expiry_seconds
    return UploadOut(
        id=upload.id,
        status=upload.status,
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        part_size=upload.part_size,
        parts=presigner.part_urls(upload, expiry) if pending else [],
        uploaded_parts=presigner.uploaded(upload) if pending else [],
        expires_at=utcnow() + timedelta(seconds=expiry),
    )


@router.post(
    "", status_code=201, response_model=UploadOut, responses=PROBLEMS, summary="Start an upload"
)
def create_upload(
    body: CreateUploadIn,
    response: Response,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    presigner: PresignerDep,
) -> UploadOut:
    """Announce a file; `PUT` each part to its URL, then call `/complete` with the ETags."""
    limit = settings.max_presigned_upload_gb * GB
    if body.size_bytes > limit:
        raise UploadTooLarge(f"uploads are limited to {limit} bytes", limit_bytes=limit)
    upload_id = new_id()
    plan = plan_parts(body.size_bytes, settings.upload_part_mb * 1024 * 1024)
    upload = Upload(
        id=upload_id,
        tenant_id=tenant.id,
        status=UploadStatus.PENDING.value,
        key=upload_key(tenant.id, upload_id),
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        part_size=plan.part_size,
    )
    upload.multipart_id = presigner.start(upload)
    session.add(upload)
    response.headers["Location"] = f"/v1/uploads/{upload_id}"
    return upload_out(upload, presigner, settings)


@router.get("/{upload_id}", response_model=UploadOut, responses=PROBLEMS, summary="Get an upload")
def get_upload(
    upload_id: str,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    presigner: PresignerDep,
) -> UploadOut:
    """Fresh part URLs and the parts already stored: what a client needs to resume."""
    return upload_out(owned_upload(session, tenant, upload_id), presigner, settings)


@router.post(
    "/{upload_id}/complete",
    response_model=UploadOut,
    responses=PROBLEMS,
    summary="Complete an upload",
)
def complete_upload(
    upload_id: str,
    body: CompleteUploadIn,
    tenant: CurrentTenant,
    session: SessionDep,
    settings: SettingsDep,
    presigner: PresignerDep,
) -> UploadOut:
    """Join the parts; 409 `upload_incomplete` if a part is missing or the size is wrong."""
    upload = owned_upload(session, tenant, upload_id)
    if upload.status == UploadStatus.PENDING:
        presigner.complete(upload, body.parts)
        upload.status, upload.completed_at = UploadStatus.COMPLETED.value, utcnow()
    return upload_out(upload, presigner, settings)


@router.put(
    "/{upload_id}/parts/{number}",
    status_code=200,
    responses=PROBLEMS,
    summary="Receive one part (local store only)",
)
async def put_part(
    upload_id: str,
    number: int,
    request: Request,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
    settings: SettingsDep,
    sessions: SessionsDep,
    store: StoreDep,
    presigner: PresignerDep,
) -> Response:
    """The target of presigned URLs when the object store is a local folder; the signed
    URL is the credential, as with S3."""
    expected = part_signature(settings.secret_key, upload_id, number, expires).encode()
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500).
    valid = hmac.compare_digest(expected, signature.encode())
    if not isinstance(presigner, LocalPresigner) or not valid:
        raise Unauthorized("the part URL is not valid")
    if expires < time.time():
        raise Unauthorized("the part URL has expired; GET the upload for fresh URLs")
    upload = await run_in_threadpool(_pending_upload, sessions, upload_id)
    plan = PartPlan(upload.size_bytes, upload.part_size)
    if not 1 <= number <= plan.count:
        raise NotFound(f"upload {upload_id!r} has no part {number}")
    length = plan.part_length(number)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > length:
                raise UploadTooLarge(f"part {number} is {length} bytes", limit_bytes=length)
            spool.write(chunk)
        if received != length:
            raise InvalidRequest(f"part {number} must be {length} bytes; got {received}")
        spool.seek(0)
        key = upload_part_key(upload.tenant_id, upload.id, number)
        await run_in_threadpool(store.put_stream, key, spool, upload.content_type)
    return Response(status_code=200, headers={"ETag": local_etag(number, length)})


def _pending_upload(sessions: sessionmaker[Session], upload_id: str) -> Upload:
    with transaction(sessions) as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status != UploadStatus.PENDING:
            raise NotFound(f"no pending upload {upload_id!r}")
        return upload
