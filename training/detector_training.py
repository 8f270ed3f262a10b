"""Train the YOLOv8 text-line detector with Ultralytics, offline, as a library call.

Ultralytics runs the loop (augmentation, EMA, its validator, its early stopping); quire adds, per
epoch, its own line recall at IoU 0.5 on the validation pages, one ``EpochRecord`` in
``metrics.jsonl``, a progress line, a wall-clock budget, and a resumable copy of the checkpoint.

``out_dir`` after a run::

    best.pt       the best epoch by Ultralytics' fitness (mAP50-95), optimizer included
    last.pt       the latest epoch, resumable (Ultralytics strips its own last.pt at the end)
    detector.pt   best.pt without the optimizer, in half precision: the file that ships
    model.json    the model card: family, image size, classes, best metrics, options, versions
    metrics.jsonl one record per epoch, kept across resumed runs
    ultralytics/  Ultralytics' own run folder (args.yaml, results.csv, weights/)

Ultralytics must already be set up for offline use (settings folder, font, ``YOLO_OFFLINE``)
before this module's functions import it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.ultralytics_env import prepare_ultralytics
from training.evaluation.metrics import Box, Ratio, iou_matrix, match_by_iou
from training.run_log import EpochRecord, MetricsLog, TimeBudget, epoch_summary

LAST_FILE = "last.pt"
BEST_FILE = "best.pt"
SHIPPED_FILE = "detector.pt"
CARD_FILE = "model.json"
WORK_DIR = "ultralytics"
BEST_BY = "fitness: mAP50-95 on the validation split (Ultralytics)"
# Ultralytics' validator keys and the names quire records them under.
VALIDATOR_METRICS = {
    "metrics/mAP50(B)": "map50",
    "metrics/mAP50-95(B)": "map50_95",
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
}


@dataclass
class DetectorTrainConfig:
    """Options of one detector training run; defaults suit scanned document pages.

    Attributes:
        data_yaml: An Ultralytics ``data.yaml`` (images/{train,val}, labels/{train,val}).
        out_dir: The run folder (see the module docstring).
        base: A ``.pt`` checkpoint to fine-tune, or a model yaml (``"yolov8n.yaml"``) to train
            from random weights; the class count always comes from ``data_yaml``.
        image_size: Training and validation image size (long side, pixels).
        epochs: The last epoch number; a resumed run continues up to it.
        batch: Images per batch.
        patience: Epochs without a better fitness before stopping; 0 disables early stopping.
        max_minutes: Wall-clock budget of this call; None is unlimited.
        device: ``"cpu"``, ``"cuda"`` or a GPU index such as ``"0"``.
        workers: Data-loading processes (Ultralytics uses none on the CPU).
        seed: Seed of weights, shuffling and augmentation.
        resume: Continue from ``out_dir/last.pt`` when it exists.
        mixed_precision: bf16 autocast on a GPU (never on the CPU); bf16 also skips the AMP
            self-check, which would try to download a model.
        deterministic: Ultralytics' deterministic mode (slower; changes torch's global flags).
        mosaic: Probability of 4-page mosaics; off, since cut pages lose their line structure.
        degrees: Random rotation range; scans are nearly level.
        scale: Random scale gain range.
        translate: Random translation as a fraction of the image.
        fliplr: Left-right flip probability; 0, since text is not mirror-symmetric.
        hsv_v: Brightness jitter, for faded or dark scans.
        recall_conf: Confidence threshold of the predictions quire's line recall counts.
        recall_iou: IoU at which a predicted box finds a true line.
        extra_args: Any other Ultralytics training argument (``lr0``, ``cache``, ``rect``...).
    """

    data_yaml: Path
    out_dir: Path
    base: str | Path = "yolov8n.yaml"
    image_size: int = 640
    epochs: int = 100
    batch: int = 8
    patience: int = 20
    max_minutes: float | None = None
    device: str = "cpu"
    workers: int = 2
    seed: int = 0
    resume: bool = True
    mixed_precision: bool = True
    deterministic: bool = False
    mosaic: float = 0.0
    degrees: float = 1.0
    scale: float = 0.1
    translate: float = 0.05
    fliplr: float = 0.0
    hsv_v: float = 0.3
    recall_conf: float = 0.25
    recall_iou: float = 0.5
    extra_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectorTrainResult:
    """What a detector run left behind.

    Attributes:
        best_path: ``out_dir/best.pt``.
        last_path: ``out_dir/last.pt``, resumable.
        records: Every epoch so far, resumed runs included.
        stopped: ``"epochs"``, ``"early_stopping"``, ``"time_budget"`` or
            ``"did_not_converge"`` (the run ended and no epoch found a line: mAP50 and line
            recall 0); a time-budget stop is reported as such, since the run can resume.
        shipped_path: ``out_dir/detector.pt``, the stripped best checkpoint.
    """

    best_path: Path
    last_path: Path
    records: list[EpochRecord]
    stopped: str
    shipped_path: Path


def line_matches(
    truth: Sequence[Box], found: Sequence[Box], threshold: float = 0.5
) -> tuple[Ratio, Ratio]:
    """One page's line recall and precision: one-to-one matches at IoU >= ``threshold``.

    Args:
        truth: The page's true line boxes (x0, y0, x1, y1 pixels).
        found: The predicted boxes, same frame.
        threshold: The least IoU of a match.

    Returns:
        ``(recall, precision)`` as counts: matches over true lines, matches over found boxes.
    """
    matched = len(match_by_iou(iou_matrix(truth, found), threshold)) if truth and found else 0
    return Ratio(matched, len(truth)), Ratio(matched, len(found))


def ultralytics_args(config: DetectorTrainConfig, resume_from: Path | None) -> dict[str, Any]:
    """The Ultralytics training arguments of a run (``resume_from``: a checkpoint to continue)."""
    on_gpu = config.device != "cpu"
    args: dict[str, Any] = {
        "model": str(resume_from or config.base),
        "data": str(config.data_yaml),
        "epochs": config.epochs,
        "imgsz": config.image_size,
        "batch": config.batch,
        "patience": config.patience,
        "device": config.device,
        "workers": config.workers,
        "seed": config.seed,
        "deterministic": config.deterministic,
        "pretrained": str(config.base).endswith(".pt"),
        "save_dir": str(config.out_dir / WORK_DIR),
        "exist_ok": True,
        "plots": False,  # plotting needs fonts and time, and quire keeps its own curve
        "val": True,
        "save": True,
        "time": None,  # quire's own budget stops between batches without re-planning epochs
        "amp": "bf16" if on_gpu and config.mixed_precision else False,
        "mosaic": config.mosaic,
        "close_mosaic": 0 if config.mosaic == 0 else 10,
        "degrees": config.degrees,
        "scale": config.scale,
        "translate": config.translate,
        "fliplr": config.fliplr,
        "flipud": 0.0,
        "hsv_v": config.hsv_v,
        "mixup": 0.0,
        **config.extra_args,
    }
    if resume_from is not None:
        args["resume"] = str(resume_from)
    return args


def train_detector(
    config: DetectorTrainConfig, on_epoch: Callable[[EpochRecord], None] | None = None
) -> DetectorTrainResult:
    """Train, validate every epoch, keep the best; resume from ``out_dir/last.pt`` if there.

    A resumed run keeps the first run's recipe (augmentation, learning rate); ``epochs``,
    ``patience``, ``batch``, ``device`` and ``workers`` may change.

    Args:
        config: The run's options.
        on_epoch: Called with each epoch's record (progress for a caller).

    Returns:
        The checkpoints, every epoch's record and why the run stopped.

    Raises:
        FileExistsError: If ``out_dir`` holds a previous run and ``config.resume`` is False.
        FileNotFoundError: If ``data_yaml`` is missing.
    """
    if not config.data_yaml.is_file():
        raise FileNotFoundError(f"no data.yaml at {config.data_yaml}")
    prepare_ultralytics()  # offline, with its font in place, before ultralytics is imported
    config.out_dir.mkdir(parents=True, exist_ok=True)
    budget = TimeBudget(config.max_minutes)
    resume_from, done = _prepare_resume(config)
    watcher = _EpochWatcher(config, budget, on_epoch)
    if done < config.epochs:
        _run_ultralytics(config, resume_from, watcher)
    return _finish(config, watcher)


def _prepare_resume(config: DetectorTrainConfig) -> tuple[Path | None, int]:
    """The checkpoint to continue from (None: a fresh run) and the epochs already done."""
    last = config.out_dir / LAST_FILE
    log = MetricsLog(config.out_dir)
    if not last.exists():
        log.path.unlink(missing_ok=True)  # a run that died before its first checkpoint
        return None, 0
    if not config.resume:
        raise FileExistsError(
            f"{config.out_dir} holds a previous run; resume it or use a new folder"
        )
    import torch

    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    done = int(checkpoint["epoch"]) + 1
    log.truncate_after(done)
    if done >= config.epochs:
        return None, done
    # Ultralytics refuses a new epoch count on resume; the checkpoint's copy says how far to go.
    checkpoint["train_args"]["epochs"] = config.epochs
    checkpoint["train_args"]["time"] = None
    resume_from = config.out_dir / WORK_DIR / "weights" / "resume.pt"
    resume_from.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, resume_from)
    return resume_from, done


def _run_ultralytics(
    config: DetectorTrainConfig, resume_from: Path | None, watcher: _EpochWatcher
) -> None:
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils import callbacks

    hooks = callbacks.get_default_callbacks()
    hooks["on_train_epoch_start"].append(watcher.on_train_epoch_start)
    hooks["on_train_batch_end"].append(watcher.on_train_batch_end)
    hooks["on_train_epoch_end"].append(watcher.on_train_epoch_end)
    hooks["on_model_save"].append(watcher.on_model_save)
    trainer = DetectionTrainer(overrides=ultralytics_args(config, resume_from), _callbacks=hooks)
    trainer.train()
    if resume_from is not None:
        resume_from.unlink(missing_ok=True)


class _EpochWatcher:
    """Ultralytics callbacks: the time budget between batches, quire's record after each save."""

    def __init__(
        self,
        config: DetectorTrainConfig,
        budget: TimeBudget,
        on_epoch: Callable[[EpochRecord], None] | None,
    ):
        self.config = config
        self.budget = budget
        self.on_epoch = on_epoch
        self.log = MetricsLog(config.out_dir)
        self.stopped = "epochs"
        self.names: dict[int, str] = {}
        self._started = time.monotonic()
        self._train_seconds = 0.0
        self._batches = 0

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._started, self._batches = time.monotonic(), 0

    def on_train_epoch_end(self, trainer: Any) -> None:
        self._train_seconds = time.monotonic() - self._started

    def on_train_batch_end(self, trainer: Any) -> None:
        self._batches += 1
        if self.budget.spent:
            trainer.stop = True  # the cut epoch is still validated, saved and recorded

    def on_model_save(self, trainer: Any) -> None:
        """After Ultralytics wrote this epoch's checkpoints: copy, measure, record."""
        best = trainer.best_fitness == trainer.fitness
        _copy_atomically(trainer.last, self.config.out_dir / LAST_FILE)
        if best:
            _copy_atomically(trainer.best, self.config.out_dir / BEST_FILE)
        self.names = {int(k): str(v) for k, v in trainer.data["names"].items()}
        record = self._record(trainer, best)
        self.log.append(record)
        print(epoch_summary(record, trainer.epochs), flush=True)
        if self.on_epoch is not None:
            self.on_epoch(record)
        self._note_stop(trainer)

    def _record(self, trainer: Any, best: bool) -> EpochRecord:
        dataset = trainer.test_loader.dataset
        recall, precision = validation_line_matches(
            self.config.out_dir / LAST_FILE, dataset.im_files, dataset.labels, self.config
        )
        metrics = {name: float(trainer.metrics[key]) for key, name in VALIDATOR_METRICS.items()}
        metrics["line_recall"] = recall.value if recall.value is not None else 0.0
        metrics["line_precision"] = precision.value if precision.value is not None else 0.0
        train_images = min(self._batches * trainer.batch_size, len(trainer.train_loader.dataset))
        losses = trainer.label_loss_items(trainer.tloss) if trainer.tloss else {}
        return EpochRecord(
            epoch=trainer.epoch + 1,
            train_loss=float(sum(losses.values())),
            metrics=metrics,
            seconds=time.monotonic() - self._started,
            best=best,
            samples_per_second=train_images / max(self._train_seconds, 1e-9),  # training only
        )

    def _note_stop(self, trainer: Any) -> None:
        if self.budget.spent:
            trainer.stop = True
            self.stopped = "time_budget"
        elif trainer.stop and trainer.epoch + 1 < trainer.epochs:
            self.stopped = "early_stopping"


def validation_line_matches(
    weights: Path,
    images: Sequence[str],
    labels: Sequence[dict[str, Any]],
    config: DetectorTrainConfig,
) -> tuple[Ratio, Ratio]:
    """Pooled line recall and precision of ``weights`` on the validation pages.

    Args:
        weights: A checkpoint to predict with.
        images: Validation image paths.
        labels: Their Ultralytics labels (``bboxes``: normalised cx, cy, w, h).
        config: Image size, device, confidence and IoU thresholds.

    Returns:
        ``(recall, precision)`` summed over pages.
    """
    from ultralytics import YOLO

    model = YOLO(str(weights))
    found = model.predict(
        list(images),
        imgsz=config.image_size,
        conf=config.recall_conf,
        device=config.device,
        batch=config.batch,
        verbose=False,
        stream=True,
    )
    recall, precision = Ratio(), Ratio()
    result: Any
    for label, result in zip(labels, found, strict=True):
        boxes = [_as_box(row) for row in result.boxes.xyxy.cpu().numpy()]
        truth = _truth_boxes(label["bboxes"], result.orig_shape)
        page_recall, page_precision = line_matches(truth, boxes, config.recall_iou)
        recall, precision = recall + page_recall, precision + page_precision
    return recall, precision


def _truth_boxes(normalised_xywh: np.ndarray, shape: tuple[int, int]) -> list[Box]:
    height, width = shape
    scale = np.array([width, height, width, height], dtype=np.float64)
    xywh = np.asarray(normalised_xywh, dtype=np.float64).reshape(-1, 4) * scale
    corners = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    return [_as_box(row) for row in corners]


def _as_box(row: np.ndarray) -> Box:
    x0, y0, x1, y1 = (round(float(v)) for v in row)
    return (x0, y0, x1, y1)


def _finish(config: DetectorTrainConfig, watcher: _EpochWatcher) -> DetectorTrainResult:
    """Ship the best checkpoint and its card; say why the run stopped."""
    records = MetricsLog(config.out_dir).read()
    best_path = config.out_dir / BEST_FILE
    stopped = watcher.stopped
    if stopped != "time_budget" and not any(
        r.metrics.get("map50", 0.0) > 0 or r.metrics.get("line_recall", 0.0) > 0 for r in records
    ):
        stopped = "did_not_converge"
    card = _model_card(config, records, stopped, watcher.names or _class_names(config.data_yaml))
    shipped = config.out_dir / SHIPPED_FILE
    if best_path.exists():
        from ultralytics.utils.torch_utils import strip_optimizer

        strip_optimizer(best_path, s=str(shipped), updates={"quire": card})
        (config.out_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    return DetectorTrainResult(best_path, config.out_dir / LAST_FILE, records, stopped, shipped)


def _model_card(
    config: DetectorTrainConfig,
    records: Sequence[EpochRecord],
    stopped: str,
    names: dict[int, str],
) -> dict[str, Any]:
    import torch
    import ultralytics

    best = [r for r in records if r.best]
    options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    return {
        "family": "yolov8",
        "file": SHIPPED_FILE,
        "image_size": config.image_size,
        "classes": {str(k): v for k, v in sorted(names.items())},
        "base": str(config.base),
        "best_by": BEST_BY,
        "best_epoch": best[-1].epoch if best else None,
        "metrics": best[-1].metrics if best else {},
        "epochs_trained": records[-1].epoch if records else 0,
        "stopped": stopped,
        "options": options,
        "ultralytics_version": ultralytics.__version__,
        "torch_version": torch.__version__,
    }


def _class_names(data_yaml: Path) -> dict[int, str]:
    import yaml

    names = yaml.safe_load(data_yaml.read_text("utf-8")).get("names", {})
    return (
        dict(enumerate(names)) if isinstance(names, list) else {int(k): v for k, v in names.items()}
    )


def _copy_atomically(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
