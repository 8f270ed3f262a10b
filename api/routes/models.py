"""``/v1/models``: the models a tenant can run, those quire ships and its own trained ones,
with their figures and lineage; promote one to the tenant's default, delete a trained one."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentTenant, SessionDep, SessionsDep, SettingsDep, StoreDep, SubmittingTenant
from api.routes.jobs import CONFLICT_PROBLEMS, PROBLEMS
from shared.db.models import Tenant, TrainedModel
from shared.db.session import transaction
from shared.errors import InvalidRequest, NotFound
from shared.model_registry import (
    ModelEntry,
    builtin_models,
    check_unused,
    find_model,
    forget_defaults,
    promote,
    tenant_models,
    trained_entry,
)
from shared.training_schemas import ModelList, ModelOut

router = APIRouter(prefix="/v1/models", tags=["models"])


def model_out(entry: ModelEntry, tenant: Tenant) -> ModelOut:
    defaults = {tenant.default_detector, tenant.default_recognizer}
    return ModelOut(
        id=entry.id,
        name=entry.name,
        version=entry.version,
        kind=entry.kind,
        family=entry.family,
        builtin=entry.builtin,
        default=entry.id in defaults,
        sha256=entry.sha256,
        size_bytes=entry.size_bytes,
        metrics=entry.metrics,
        lineage=entry.lineage,
        created_at=entry.created_at,
    )


def _tenant(session: SessionDep, tenant_id: str) -> Tenant:
    row = session.get(Tenant, tenant_id)
    if row is None:  # the key outlived its tenant for an instant
        raise NotFound("no such tenant")
    return row


@router.get("", response_model=ModelList, responses=PROBLEMS, summary="List models")
def list_models(tenant: CurrentTenant, session: SessionDep, settings: SettingsDep) -> ModelList:
    """The models quire ships (by name, `builtin`), then your trained ones, newest first;
    `default` marks the ones jobs without a `model` use."""
    row = _tenant(session, tenant.id)
    entries = builtin_models(settings.builtin_models_dir) + [
        trained_entry(m) for m in tenant_models(session, tenant.id)
    ]
    return ModelList(items=[model_out(e, row) for e in entries])


@router.get("/{model_id}", response_model=ModelOut, responses=PROBLEMS, summary="Get a model")
def get_model(
    model_id: str, tenant: CurrentTenant, session: SessionDep, settings: SettingsDep
) -> ModelOut:
    entry = find_model(session, tenant.id, model_id, settings.builtin_models_dir)
    if entry is None:
        raise NotFound(f"no model {model_id!r}")
    return model_out(entry, _tenant(session, tenant.id))


@router.post(
    "/{model_id}/promote",
    response_model=ModelOut,
    responses=PROBLEMS,
    summary="Make a model the default",
)
def promote_model(
    model_id: str, tenant: SubmittingTenant, sessions: SessionsDep, settings: SettingsDep
) -> ModelOut:
    """Jobs and batches submitted without `model` use it from now on (for its kind); jobs
    already queued keep the models they were given."""
    with transaction(sessions) as session:
        if find_model(session, tenant.id, model_id, settings.builtin_models_dir) is None:
            raise NotFound(f"no model {model_id!r}")
        row = _tenant(session, tenant.id)
        entry = promote(session, row, model_id, settings.builtin_models_dir)
        return model_out(entry, row)


@router.delete(
    "/{model_id}", status_code=204, responses=CONFLICT_PROBLEMS, summary="Delete a model"
)
def delete_model(
    model_id: str,
    tenant: SubmittingTenant,
    sessions: SessionsDep,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    """A trained model and its weights; refused (409 `model_in_use`) while an unfinished job
    or training needs it. A shipped model cannot be deleted (422)."""
    with transaction(sessions) as session:
        model = session.get(TrainedModel, model_id)
        if model is None or model.tenant_id != tenant.id:
            if find_model(session, tenant.id, model_id, settings.builtin_models_dir) is None:
                raise NotFound(f"no model {model_id!r}")
            raise InvalidRequest(f"{model_id} ships with quire and cannot be deleted")
        check_unused(session, model)
        forget_defaults(_tenant(session, tenant.id), model.id)
        key = model.object_key
        session.delete(model)
    store.delete(key)
    return Response(status_code=204)
