"""``run_training`` (``train`` queue): one training run, resumable, under a lease.

The run works in a scratch folder: the dataset(s) unpacked, the last checkpoint (a tar of the
trainer's run folder, in the store) restored, then the family's own trainer (``train_crnn``
or ``train_detector``) continues from it. After every epoch the run folder goes back to the
store and the epoch's figures to the database, so a worker killed mid-epoch costs at most that
epoch: the next worker resumes from the checkpoint. The best epoch becomes one model version
in the tenant's registry; a run that never improves ends ``did_not_converge``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.db.models import (
    Dataset,
    DatasetStatus,
    TrainedModel,
    Training,
    TrainingStatus,
    new_id,
)
from shared.db.session import transaction
from shared.model_registry import WEIGHT_FILES, builtin_models, next_version
from shared.objectkeys import model_key, training_checkpoint_key
from shared.training_state import finish_training
from training.run_log import EpochRecord
from training.service import leases
from training.service.dataset_import import fetch_and_unpack

if TYPE_CHECKING:
    from worker.context import WorkerContext

log = logging.getLogger("quire.trainings")
SKIPPED_IN_CHECKPOINT = frozenset({"dataset"})  # rebuilt from the dataset on every attempt
# A recognizer whose best validation CER stays this high reads next to nothing: no version is
# kept and the training ends ``did_not_converge`` (an untrained CRNN scores 1.0).
NEVER_READ_CER = 0.95


class TrainingStopped(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TrainingFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Spec:
    """What the run needs of its row, read once at claim time."""

    id: str
    tenant_id: str
    kind: str
    family: str
    name: str
    dataset_key: str
    validation_key: str | None
    dataset_sha256: str | None
    validation_fraction: float
    seed: int
    base_model: str | None
    max_epochs: int
    max_minutes: float | None
    minutes_spent: float
    options: dict[str, Any]
    checkpoint_key: str


@dataclass
class Outcome:
    stopped: str
    records: list[EpochRecord]
    weights: Path | None
    options: dict[str, Any] = field(default_factory=dict)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_training(ctx: WorkerContext, training_id: str) -> None:
    """Claim the training, run it to its end (or to a stop), record what came of it."""
    settings = ctx.settings
    owner = worker_name()
    with transaction(ctx.sessions) as session:
        claimed = leases.claim(session, training_id, owner, settings.training_lease_seconds)
        if claimed is None:
            return
        training, held = claimed
        if training.cancel_requested:
            _finish(session, training, TrainingStatus.CANCELED, "canceled", None, None)
            return
        if held.attempt > settings.training_max_attempts:
            lost = ("attempts_exhausted", f"its worker was lost {held.attempt - 1} times")
            _finish(session, training, TrainingStatus.FAILED, None, lost, None)
            return
        try:
            spec = _spec(session, training)
        except TrainingFailed as e:
            _finish(session, training, TrainingStatus.FAILED, None, (e.code, e.message), None)
            return
    log.info("training %s: attempt %d on %s", training_id, held.attempt, owner)
    scratch = settings.data_dir / "trainings"
    scratch.mkdir(parents=True, exist_ok=True)
    with (
        leases.Heartbeat(ctx.sessions, held, settings.training_lease_seconds) as beat,
        tempfile.TemporaryDirectory(dir=scratch, prefix=f"{training_id[:8]}-") as tmp,
    ):
        try:
            outcome = _train_with_oom_retry(ctx, spec, Path(tmp), beat)
        except TrainingStopped as e:
            if e.reason == "canceled":
                _end(ctx, training_id, owner, TrainingStatus.CANCELED, "canceled")
            return  # lease lost: the training is another worker's now
        except TrainingFailed as e:
            _end(ctx, training_id, owner, TrainingStatus.FAILED, None, (e.code, e.message))
            return
        _record_outcome(ctx, spec, owner, outcome)


def _spec(session: Any, training: Training) -> Spec:
    dataset = session.get(Dataset, training.dataset_id) if training.dataset_id else None
    if dataset is None or dataset.status != DatasetStatus.READY or not dataset.source_key:
        raise TrainingFailed("dataset_gone", "the training's dataset was deleted or is not ready")
    validation_key = None
    if training.validation_dataset_id:
        held_out = session.get(Dataset, training.validation_dataset_id)
        if held_out is None or held_out.status != DatasetStatus.READY:
            raise TrainingFailed("dataset_gone", "the validation dataset was deleted")
        validation_key = held_out.source_key
    spent = sum(float(e.get("seconds", 0)) for e in training.epochs) / 60
    return Spec(
        id=training.id,
        tenant_id=training.tenant_id,
        kind=training.kind,
        family=training.family,
        name=training.name,
        dataset_key=dataset.source_key,
        validation_key=validation_key,
        dataset_sha256=dataset.content_sha256,
        validation_fraction=training.validation_fraction,
        seed=training.seed,
        base_model=training.base_model,
        max_epochs=training.max_epochs,
        max_minutes=training.max_minutes,
        minutes_spent=spent,
        options=dict(training.options),
        checkpoint_key=training.checkpoint_key
        or training_checkpoint_key(training.tenant_id, training.id),
    )


def _train_with_oom_retry(
    ctx: WorkerContext, spec: Spec, work: Path, beat: leases.Heartbeat
) -> Outcome:
    try:
        return _train(ctx, spec, work, beat)
    except RuntimeError as e:
        if not _out_of_memory(e):
            raise
        batch = int(spec.options.get("batch_size", 16))
        if batch <= 1 or spec.options.get("oom_retried"):
            raise TrainingFailed("out_of_memory", f"out of memory at batch size {batch}") from e
        log.warning(
            "training %s: out of memory at batch %d; once more at %d", spec.id, batch, batch // 2
        )
        halved = {**spec.options, "batch_size": batch // 2, "oom_retried": True}
        retry = Spec(**{**asdict(spec), "options": halved})
        for child in list(work.iterdir()):
            _remove(child)
        try:
            outcome = _train(ctx, retry, work, beat)
        except RuntimeError as again:
            if not _out_of_memory(again):
                raise
            message = f"out of memory at batch sizes {batch} and {batch // 2}"
            raise TrainingFailed("out_of_memory", message) from again
        outcome.options = halved
        return outcome


def _out_of_memory(error: BaseException) -> bool:
    return "out of memory" in str(error).lower()


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _train(ctx: WorkerContext, spec: Spec, work: Path, beat: leases.Heartbeat) -> Outcome:
    from training.line_dataset import split_pages

    train_dir, _ = fetch_and_unpack(
        ctx.store, spec.dataset_key, _mkdir(work / "train"), ctx.settings
    )
    val_dirs = []
    if spec.validation_key:
        val_dir, _ = fetch_and_unpack(
            ctx.store, spec.validation_key, _mkdir(work / "val"), ctx.settings
        )
        val_dirs.append(val_dir)
    split = split_pages(
        [train_dir],
        val_fraction=spec.validation_fraction,
        seed=spec.seed,
        val_gt=val_dirs,
        max_pixels=ctx.settings.max_image_pixels,
    )
    if not split.train or not split.val:
        raise TrainingFailed(
            "invalid_dataset",
            f"need pages for both training and validation ({split.summary()})",
        )
    run_dir = _mkdir(work / "run")
    if ctx.store.exists(spec.checkpoint_key):
        _restore(ctx.store.get_bytes(spec.checkpoint_key), run_dir)
        log.info("training %s: resumed from its checkpoint", spec.id)

    def on_epoch(record: EpochRecord) -> None:
        ctx.store.put_bytes(spec.checkpoint_key, _pack(run_dir), "application/x-tar")
        with transaction(ctx.sessions) as session:
            training = session.get(Training, spec.id)
            if training is not None and training.lease_owner == beat.held.owner:
                kept = [e for e in training.epochs if e["epoch"] < record.epoch]
                training.epochs = [*kept, asdict(record)]
                training.epoch = record.epoch
                training.checkpoint_key = spec.checkpoint_key
        beat.check()
        if beat.stop_reason is not None:
            raise TrainingStopped(beat.stop_reason)

    if beat.stop_reason is not None:
        raise TrainingStopped(beat.stop_reason)
    base = _base_model_path(ctx, spec, work)
    minutes = None if spec.max_minutes is None else max(0.01, spec.max_minutes - spec.minutes_spent)
    try:
        if spec.kind == "detector":
            return _train_detector(ctx, spec, split, run_dir, base, minutes, on_epoch)
        return _train_crnn(ctx, spec, split, run_dir, base, minutes, on_epoch)
    except ValueError as e:  # what a trainer says of data it cannot use
        raise TrainingFailed("invalid_dataset", str(e)) from e


def _train_crnn(
    ctx: WorkerContext,
    spec: Spec,
    split: Any,
    run_dir: Path,
    base: Path | None,
    minutes: float | None,
    on_epoch: Any,
) -> Outcome:
    from training.line_dataset import trainable, training_lines
    from training.recognizer.crnn_training import BEST_FILE, CrnnTrainConfig, train_crnn

    options = spec.options
    config = CrnnTrainConfig(
        out_dir=run_dir,
        epochs=spec.max_epochs,
        epoch_lines=options.get("epoch_lines"),
        batch_size=int(options.get("batch_size", 16)),
        learning_rate=float(options.get("learning_rate", 1e-3)),
        warmup_steps=int(options.get("warmup_steps", 200)),
        patience=int(options.get("patience", 6)),
        max_minutes=minutes,
        augment=bool(options.get("augment", True)),
        device=ctx.settings.training_device,
        threads=ctx.settings.training_threads,
        seed=spec.seed,
        base_model=base,
        metadata={"training_id": spec.id},
    )
    crop = str(options.get("crop", "polygon"))
    train = [s for s in training_lines(split.train, crop) if trainable(s)]
    val = [s for s in training_lines(split.val, crop) if trainable(s)]
    result = train_crnn(config, train, val, on_epoch=on_epoch)
    weights = result.best_dir / BEST_FILE
    best = min((r.metrics["val_cer"] for r in result.records), default=1.0)
    stopped = "did_not_converge" if best >= NEVER_READ_CER else result.stopped
    return Outcome(stopped, result.records, weights if weights.is_file() else None)


def _train_detector(
    ctx: WorkerContext,
    spec: Spec,
    split: Any,
    run_dir: Path,
    base: Path | None,
    minutes: float | None,
    on_epoch: Any,
) -> Outcome:
    from training.detector_training import DetectorTrainConfig, train_detector
    from training.yolo_dataset import write_yolo_dataset

    options = spec.options
    image_size = int(options.get("image_size", 640))
    data_yaml = write_yolo_dataset(
        split.train, split.val, run_dir / "dataset", image_size=image_size
    )
    config = DetectorTrainConfig(
        data_yaml=data_yaml,
        out_dir=run_dir,
        base=base or str(options.get("architecture", "yolov8n.yaml")),
        image_size=image_size,
        epochs=spec.max_epochs,
        batch=int(options.get("batch_size", 8)),
        patience=int(options.get("patience", 10)),
        max_minutes=minutes,
        device=_ultralytics_device(ctx.settings.training_device),
        seed=spec.seed,
    )
    result = train_detector(config, on_epoch=on_epoch)
    weights = result.shipped_path
    return Outcome(result.stopped, result.records, weights if weights.is_file() else None)


def _ultralytics_device(device: str) -> str:
    return (
        device.split(":", 1)[1]
        if device.startswith("cuda:")
        else ("0" if device == "cuda" else device)
    )


def _base_model_path(ctx: WorkerContext, spec: Spec, work: Path) -> Path | None:
    """The base model's weights as a local file (a shipped model, or a trained one fetched)."""
    if not spec.base_model:
        return None
    root = ctx.settings.builtin_models_dir
    for entry in builtin_models(root):
        if entry.id == spec.base_model:
            from worker.engines.builtin_models import builtin_path

            return builtin_path(entry.id, root)
    with transaction(ctx.sessions) as session:
        model = session.get(TrainedModel, spec.base_model)
        if model is None or model.tenant_id != spec.tenant_id:
            raise TrainingFailed("base_model_gone", f"base model {spec.base_model!r} was deleted")
        key = model.object_key
    target = _mkdir(work / "base") / WEIGHT_FILES[spec.kind]
    target.write_bytes(ctx.store.get_bytes(key))
    return target


def _record_outcome(ctx: WorkerContext, spec: Spec, owner: str, outcome: Outcome) -> None:
    if outcome.stopped == "did_not_converge" or outcome.weights is None:
        _end(
            ctx,
            spec.id,
            owner,
            TrainingStatus.DID_NOT_CONVERGE,
            "did_not_converge",
            ("did_not_converge", "no epoch learnt to read the validation pages; nothing was kept"),
            outcome,
        )
        return
    data = outcome.weights.read_bytes()
    model_id = new_id()
    key = model_key(spec.tenant_id, model_id, WEIGHT_FILES[spec.kind])
    ctx.store.put_bytes(key, data, "application/octet-stream")
    best = [r for r in outcome.records if r.best] or outcome.records[-1:]
    with transaction(ctx.sessions) as session:
        training = session.get(Training, spec.id, with_for_update=True)
        if (
            training is None
            or training.lease_owner != owner
            or TrainingStatus(training.status).terminal
        ):
            ctx.store.delete(key)
            return
        model = TrainedModel(
            id=model_id,
            tenant_id=spec.tenant_id,
            name=spec.name,
            version=next_version(session, spec.tenant_id, spec.name),
            kind=spec.kind,
            family=spec.family,
            metrics={**best[-1].metrics, "epoch": best[-1].epoch} if best else {},
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            object_key=key,
            lineage={
                "training_id": spec.id,
                "base_model": spec.base_model,
                "dataset_sha256": spec.dataset_sha256,
                "code_version": _code_version(),
                "options": outcome.options or spec.options,
                "epochs": len(outcome.records),
            },
            training_id=spec.id,
        )
        session.add(model)
        training.model_id = model_id
        _finish(session, training, TrainingStatus.SUCCEEDED, outcome.stopped, None, outcome)
    ctx.store.delete(spec.checkpoint_key)
    log.info("training %s: model %s (%s v%d)", spec.id, model_id, spec.name, model.version)


def _end(
    ctx: WorkerContext,
    training_id: str,
    owner: str,
    status: TrainingStatus,
    stopped: str | None,
    error: tuple[str, str] | None = None,
    outcome: Outcome | None = None,
) -> None:
    with transaction(ctx.sessions) as session:
        training = session.get(Training, training_id, with_for_update=True)
        if (
            training is None
            or training.lease_owner != owner
            or TrainingStatus(training.status).terminal
        ):
            return
        _finish(session, training, status, stopped, error, outcome)


def _finish(
    session: Any,
    training: Training,
    status: TrainingStatus,
    stopped: str | None,
    error: tuple[str, str] | None,
    outcome: Outcome | None,
) -> None:
    epochs = [asdict(r) for r in outcome.records] if outcome is not None else None
    finish_training(session, training, status, stopped, error, epochs)


def _code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quire")
    except PackageNotFoundError:
        return "unknown"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pack(run_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(run_dir.iterdir()):
            if child.name not in SKIPPED_IN_CHECKPOINT:
                tar.add(child, arcname=child.name)
    return buffer.getvalue()


def _restore(data: bytes, run_dir: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(run_dir, filter="data")
