"""``/v1/trainings``: train a line detector or recognizer on a dataset, on the ``train``
queue; follow its epochs, cancel it, get a model version in ``/v1/models`` at its end."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.caller import TenantRef
from api.deps import (
    CurrentTenant,
    SessionDep,
    SessionsDep,
    SettingsDep,
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
from api.ownership import owned_row
from api.routes.datasets import owned_dataset
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS
from api.submission import checked_callback_url, send_or_defer
from shared.db.models import DatasetStatus, Training, TrainingStatus, new_id
from shared.db.session import transaction
from shared.errors import Conflict, InvalidRequest
from shared.model_registry import FAMILIES, require_model
from shared.queues import RUN_TRAINING, run_training_payload
from shared.schemas import ErrorInfo
from shared.training_schemas import (
    CreateTrainingIn,
    EpochOut,
    TrainingList,
    TrainingOut,
    ValidationSplit,
)
from shared.training_state import finish_training

router = APIRouter(prefix="/v1/trainings", tags=["trainings"])
ROUTE = "POST /v1/trainings"
KNOWN_OPTIONS = {
    "recognizer": {
        "batch_size",
        "learning_rate",
        "warmup_steps",
        "patience",
        "epoch_lines",
        "augment",
        "crop",
    },
    "detector": {"batch_size", "image_size", "patience", "architecture"},
}


def owned_training(session: Session, tenant: TenantRef, training_id: str) -> Training:
    return owned_row(session, Training, tenant, training_id, "training")


def training_out(training: Training) -> TrainingOut:
    epochs = [EpochOut(**e) for e in training.epochs]
    eta = None
    if epochs and not TrainingStatus(training.status).terminal:
        mean = sum(e.seconds for e in epochs) / len(epochs)
        eta = round(mean * max(0, training.max_epochs - training.epoch), 1)
        if training.max_minutes is not None:
            spent = sum(e.seconds for e in epochs)
            eta = min(eta, max(0.0, training.max_minutes * 60 - spent))
    return TrainingOut(
        id=training.id,
        kind=training.kind,
        family=training.family,
        name=training.name,
        status=training.status,
        dataset_id=training.dataset_id,
        validation=ValidationSplit(
            fraction=training.validation_fraction,
            seed=training.seed,
            dataset_id=training.validation_dataset_id,
        ),
        base_model=training.base_model,
        max_epochs=training.max_epochs,
        max_minutes=training.max_minutes,
        options=training.options,
        epoch=training.epoch,
        epochs=epochs,
        eta_seconds=eta,
        stopped=training.stopped,
        attempts=training.attempts,
        model_id=training.model_id,
        error=ErrorInfo.of(training.error_code, training.error_message),
        created_at=training.created_at,
        started_at=training.started_at,
        finished_at=training.finished_at,
    )


def _check_options(body: CreateTrainingIn) -> None:
    unknown = set(body.options) - KNOWN_OPTIONS[body.kind]
    if unknown:
        known = ", ".join(sorted(KNOWN_OPTIONS[body.kind]))
        raise InvalidRequest(f"unknown {body.kind} options {sorted(unknown)}; known: {known}")


@router.post(
    "",
    status_code=202,
    response_model=TrainingOut,
    responses=CONFLICT_PROBLEMS,
    summary="Start a training",
)
async def create_training(
    request: Request,
    response: Response,
    tenant: SubmittingTenant,
    settings: SettingsDep,
    sessions: SessionsDep,
    tasks: TasksDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> TrainingOut:
    """Train a `detector` (YOLOv8) or a `recognizer` (CRNN-CTC) on a ready dataset, from
    scratch or from `base_model` (same kind). Validation is a seeded page fraction or another
    dataset. Every epoch's figures appear in `epochs`; the best epoch becomes a model version
    (name `name`, versions counting up) when the run ends, also at `max_minutes`. A run whose
    best epoch reads nothing ends `did_not_converge` and keeps no model."""
    try:
        body = CreateTrainingIn.model_validate_json(await request.body())
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"invalid training request: {where}: {first['msg']}") from e
    _check_options(body)
    callback_url = checked_callback_url(body.callback_url, settings)

    def create(claim: IdempotencyClaim | None) -> str:
        with transaction(sessions) as session:
            dataset = owned_dataset(session, tenant, body.dataset_id)
            if dataset.status != DatasetStatus.READY:
                raise Conflict(f"dataset {dataset.id} is {dataset.status}, not ready")
            held_out = body.validation.dataset_id
            if held_out is not None:
                validation = owned_dataset(session, tenant, held_out)
                if validation.status != DatasetStatus.READY:
                    raise Conflict(f"validation dataset {held_out} is {validation.status}")
            if body.base_model is not None:
                require_model(
                    session, tenant.id, body.base_model, body.kind, settings.builtin_models_dir
                )
            training = Training(
                id=new_id(),
                tenant_id=tenant.id,
                kind=body.kind,
                family=FAMILIES[body.kind],
                name=body.name or f"{dataset.name or 'dataset'}-{body.kind}"[:200],
                dataset_id=dataset.id,
                validation_dataset_id=held_out,
                validation_fraction=body.validation.fraction,
                seed=body.validation.seed,
                base_model=body.base_model,
                max_epochs=body.max_epochs,
                max_minutes=body.max_minutes,
                options=body.options,
                callback_url=callback_url,
            )
            session.add(training)
            if claim is not None:
                session.add(claim.row("training", training.id))
        send_or_defer(tasks, RUN_TRAINING, run_training_payload(training.id), "bulk")
        return training.id

    def fingerprint() -> str:
        return request_hash(ROUTE, body.model_dump(mode="json"))

    claim = await run_in_threadpool(make_claim, tenant.id, idempotency_key, settings, fingerprint)
    created = await run_in_threadpool(create_once, sessions, claim, create)
    answer_created(response, created, f"/v1/trainings/{created.resource_id}")
    with transaction(sessions) as session:
        return training_out(owned_training(session, tenant, created.resource_id))


@router.get("", response_model=TrainingList, responses=PROBLEMS, summary="List trainings")
def list_trainings(
    tenant: CurrentTenant, session: SessionDep, params: ListParamsDep
) -> TrainingList:
    """Your trainings, newest first, a page at a time (filters: status, created after/before)."""
    if params.metadata:
        raise InvalidRequest("trainings have no metadata to filter on")
    rows, next_cursor = newest_of_tenant(
        session, Training, "training", TrainingStatus, tenant.id, params
    )
    return TrainingList(items=[training_out(t) for t in rows], next_cursor=next_cursor)


@router.get(
    "/{training_id}", response_model=TrainingOut, responses=PROBLEMS, summary="Get a training"
)
def get_training(
    training_id: str, tenant: CurrentTenant, session: SessionDep, response: Response
) -> TrainingOut:
    """Status, every epoch's loss and validation figures (a curve), and an ETA."""
    training = owned_training(session, tenant, training_id)
    if not TrainingStatus(training.status).terminal:
        response.headers["Retry-After"] = "5"
    return training_out(training)


@router.post(
    "/{training_id}/cancel",
    response_model=TrainingOut,
    responses=CONFLICT_PROBLEMS,
    summary="Cancel a training",
)
def cancel_training(
    training_id: str, tenant: SubmittingTenant, sessions: SessionsDep
) -> TrainingOut:
    """A queued training ends at once; a running one at the end of its current epoch (no model
    is kept). Canceling a finished training is a 409."""
    with transaction(sessions) as session:
        training = owned_training(session, tenant, training_id)
        status = TrainingStatus(training.status)
        if status.terminal:
            raise Conflict(f"training {training_id} already ended ({status.value})")
        training.cancel_requested = True
        if status == TrainingStatus.QUEUED:  # no worker has it: it ends now
            finish_training(session, training, TrainingStatus.CANCELED, "canceled")
        return training_out(training)
