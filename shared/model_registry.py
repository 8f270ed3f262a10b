"""The models a tenant may use: the ones quire ships (by name) and the tenant's trained ones
(by id), their figures and lineage, the tenant's default of each kind, and the choice a job
makes at submit.

A model reference is a shipped model's name (``quire-htr-crnn``) or a trained model's id. A
job's ``model`` is one reference (the other kind comes from the tenant's default) or two
joined by ``+`` (a detector and a recognizer, in any order). Another tenant's model is
unknown, never forbidden: ids of other tenants are not confirmed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import Job, JobStatus, Tenant, TrainedModel, Training, TrainingStatus
from shared.errors import ModelInUse, UnknownModel

KINDS = ("detector", "recognizer")
WEIGHT_FILES = {"detector": "detector.pt", "recognizer": "recognizer.pt"}
FAMILIES = {"detector": "yolo", "recognizer": "crnn"}
REPO_MODELS = Path(__file__).resolve().parents[1] / "models"
HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ModelEntry:
    """One model as the registry lists it."""

    id: str
    name: str
    version: int
    kind: str
    family: str
    sha256: str
    size_bytes: int
    builtin: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    object_key: str | None = None  # trained models: the weights in the store
    created_at: Any = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _builtin(folder: Path, mtime_ns: int) -> ModelEntry | None:
    for kind, filename in WEIGHT_FILES.items():
        weights = folder / filename
        if weights.is_file():
            return ModelEntry(
                id=folder.name,
                name=folder.name,
                version=1,
                kind=kind,
                family=FAMILIES[kind],
                sha256=_sha256(weights),
                size_bytes=weights.stat().st_size,
                builtin=True,
                lineage={"card": f"models/{folder.name}/MODEL_CARD.md"},
            )
    return None


def builtin_models(root: Path | None = None) -> list[ModelEntry]:
    """The models quire ships, from ``root`` (default: the checkout's ``models/``)."""
    folder = root or REPO_MODELS
    if not folder.is_dir():
        return []
    entries = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            entry = _builtin(child, child.stat().st_mtime_ns)
            if entry is not None:
                entries.append(entry)
    return entries


def trained_entry(model: TrainedModel) -> ModelEntry:
    return ModelEntry(
        id=model.id,
        name=model.name,
        version=model.version,
        kind=model.kind,
        family=model.family,
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        builtin=False,
        metrics=dict(model.metrics),
        lineage=dict(model.lineage),
        object_key=model.object_key,
        created_at=model.created_at,
    )


def tenant_models(session: Session, tenant_id: str) -> list[TrainedModel]:
    """The tenant's trained models, newest first."""
    query = (
        select(TrainedModel)
        .where(TrainedModel.tenant_id == tenant_id)
        .order_by(TrainedModel.created_at.desc(), TrainedModel.id)
    )
    return list(session.scalars(query))


def find_model(
    session: Session, tenant_id: str, ref: str, root: Path | None = None
) -> ModelEntry | None:
    """The shipped model named ``ref`` or the tenant's trained model with id ``ref``."""
    for entry in builtin_models(root):
        if entry.id == ref:
            return entry
    model = session.get(TrainedModel, ref)
    if model is None or model.tenant_id != tenant_id:
        return None
    return trained_entry(model)


def require_model(
    session: Session, tenant_id: str, ref: str, kind: str | None = None, root: Path | None = None
) -> ModelEntry:
    """Like ``find_model``, refusing an unknown model (or one of another kind) with a 422."""
    entry = find_model(session, tenant_id, ref, root)
    if entry is None:
        raise UnknownModel(f"no model {ref!r}; GET /v1/models lists the ones you can use")
    if kind is not None and entry.kind != kind:
        raise UnknownModel(f"model {ref!r} is a {entry.kind}, not a {kind}")
    return entry


def job_model_choice(
    session: Session, tenant: Tenant, requested: str | None, root: Path | None = None
) -> dict[str, str | None] | None:
    """The models a job will use: what it asked for, the tenant's defaults for the rest.

    Returns:
        ``{"detector": ref | None, "recognizer": ref | None}`` (None: the worker's own engine
        stage), or None when neither the job nor the tenant names any model.

    Raises:
        UnknownModel: A reference the tenant cannot use, or two of one kind.
    """
    choice: dict[str, str | None] = {
        "detector": tenant.default_detector,
        "recognizer": tenant.default_recognizer,
    }
    if requested is not None and requested.strip():
        named: set[str] = set()
        for ref in (part.strip() for part in requested.split("+")):
            if not ref:
                raise UnknownModel(f"model {requested!r}: an empty reference")
            entry = require_model(session, tenant.id, ref, root=root)
            if entry.kind in named:
                raise UnknownModel(f"model {requested!r} names two {entry.kind}s")
            named.add(entry.kind)
            choice[entry.kind] = entry.id
    if choice["detector"] is None and choice["recognizer"] is None:
        return None
    return choice


def promote(session: Session, tenant: Tenant, ref: str, root: Path | None = None) -> ModelEntry:
    """Make the model the tenant's default of its kind (jobs without ``model`` use it)."""
    entry = require_model(session, tenant.id, ref, root=root)
    if entry.kind == "detector":
        tenant.default_detector = entry.id
    else:
        tenant.default_recognizer = entry.id
    return entry


def check_unused(session: Session, model: TrainedModel) -> None:
    """Refuse to delete a model an unfinished job or training still needs."""
    unfinished = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
    jobs = session.scalars(
        select(Job.model_choice).where(Job.tenant_id == model.tenant_id, Job.status.in_(unfinished))
    )
    if any(model.id in (choice or {}).values() for choice in jobs):
        raise ModelInUse(f"model {model.id} is used by unfinished jobs; retry once they end")
    training = session.scalar(
        select(Training.id).where(
            Training.tenant_id == model.tenant_id,
            Training.base_model == model.id,
            Training.status.in_([TrainingStatus.QUEUED.value, TrainingStatus.RUNNING.value]),
        )
    )
    if training is not None:
        raise ModelInUse(f"model {model.id} is the base of training {training}")


def forget_defaults(tenant: Tenant, model_id: str) -> None:
    """A deleted model stops being the tenant's default."""
    if tenant.default_detector == model_id:
        tenant.default_detector = None
    if tenant.default_recognizer == model_id:
        tenant.default_recognizer = None


def next_version(session: Session, tenant_id: str, name: str) -> int:
    versions = session.scalars(
        select(TrainedModel.version).where(
            TrainedModel.tenant_id == tenant_id, TrainedModel.name == name
        )
    )
    return max(versions, default=0) + 1
