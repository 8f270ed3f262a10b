"""A submission's duplicate check: refuse it, reuse an earlier result, or let it through.

The check runs after the upload is received (its SHA-256 was taken while it streamed in) and
before it is stored, so a refused duplicate stores nothing. A reusing job is written in one
transaction with its copied pages, its ``job.completed`` event and its idempotency key.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.idempotency import IdempotencyClaim
from shared.db.models import Job
from shared.db.session import database_errors
from shared.duplicates import decide, find_earlier_job, reuse_result
from shared.errors import DuplicateContent, DuplicateUpload
from shared.settings import DuplicatePolicy


def earlier_to_reuse(
    session: Session, tenant_id: str, content_sha256: str, policy: DuplicatePolicy
) -> str | None:
    """The earlier job whose result the upload reuses; None to process it as new.

    Raises:
        DuplicateUpload: The policy is ``reject`` and an earlier job counts; the problem's
            ``duplicate_of`` names it.
    """
    if policy is DuplicatePolicy.PROCESS:
        return None
    earlier = find_earlier_job(session, tenant_id, content_sha256)
    action = decide(policy, earlier)
    if action is DuplicatePolicy.REJECT:
        raise DuplicateUpload(
            f"this file was uploaded before as job {earlier} (on_duplicate=reject)",
            duplicate_of=earlier,
        )
    return earlier if action is DuplicatePolicy.REUSE else None


def check_submission(
    engine: Engine, tenant_id: str, content_sha256: str, policy: DuplicatePolicy
) -> str | None:
    """``earlier_to_reuse`` in a short read-only session of its own (skipped for
    ``process``, so the common submission costs no query)."""
    if policy is DuplicatePolicy.PROCESS:
        return None
    with database_errors(), Session(engine) as session:
        return earlier_to_reuse(session, tenant_id, content_sha256, policy)


def member_duplicate(error: DuplicateUpload) -> DuplicateContent:
    """The same refusal for one file of a batch, which is skipped instead."""
    return DuplicateContent(error.message, **error.extra)


def insert_reusing_job(
    engine: Engine, job: Job, earlier_id: str, claim: IdempotencyClaim | None
) -> bool:
    """Insert ``job`` as a copy of the earlier job's result, with its idempotency key.

    Returns:
        False, inserting nothing, when the earlier job lost its result meanwhile (deleted or
        purged since the check): the job is then processed as new.
    """
    # The job stays readable after commit: the response is built from it.
    with database_errors(), Session(engine, expire_on_commit=False) as session, session.begin():
        if not reuse_result(session, job, earlier_id, update_batch=False):
            return False
        if claim is not None:
            session.add(claim.row("job", job.id))
    return True
