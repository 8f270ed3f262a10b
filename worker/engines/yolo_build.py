"""Random-weight, single-class YOLOv8 text-line detectors built offline.

The architectures come from the yaml files shipped inside the ``ultralytics`` wheel, so nothing is
downloaded. The weights are random: such a model exercises loading, batching and geometry, and a
trained checkpoint of the same format replaces it without code changes.

Checkpoint format (what ``ultralytics.nn.tasks.load_checkpoint`` reads, as ``Model.save`` writes):
a ``torch.save``-d dict whose ``"model"`` is the pickled ``DetectionModel`` in half precision
(``"ema"`` is None), whose ``"train_args"`` seed the model's default arguments, plus metadata.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from shared.ultralytics_env import prepare_ultralytics

if TYPE_CHECKING:
    from torch import nn

SIZES: dict[str, str] = {"tiny": "yolov8n", "small": "yolov8s", "base": "yolov8m"}
CLASS_NAMES: dict[int, str] = {0: "text_line"}
TRAIN_IMGSZ = 640


def build_yolo(size: str, out_path: Path, seed: int = 0, *, config_dir: Path | None = None) -> Path:
    """Build a random-weight single-class YOLOv8 detector and save it as a ``.pt`` checkpoint.

    Args:
        size: ``"tiny"``, ``"small"`` or ``"base"`` (YOLOv8 n, s, m; see ``SIZES``).
        out_path: Where to write the checkpoint; must end in ``.pt``. Parent folders are created.
        seed: Seed of the random weights; the same seed gives the same weights.
        config_dir: Ultralytics settings folder if ``YOLO_CONFIG_DIR`` is unset (default:
            ``ultralytics_env.default_config_dir()``).

    Returns:
        ``out_path``, loadable with ``ultralytics.YOLO(str(out_path))``.

    Raises:
        ValueError: If ``size`` is unknown or ``out_path`` does not end in ``.pt``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown YOLO size {size!r}; expected one of {sorted(SIZES)}")
    if out_path.suffix != ".pt":
        raise ValueError(f"YOLO checkpoints must end in .pt: {out_path}")
    prepare_ultralytics(config_dir)
    variant = SIZES[size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _detection_model(variant)
    checkpoint = _checkpoint(model, variant, {"size": size, "seed": seed, "random_weights": True})
    _save_atomically(checkpoint, out_path)
    return out_path


def _detection_model(variant: str) -> nn.Module:
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    # The yaml file name carries the scale: "yolov8n.yaml" reads yolov8.yaml at scale n.
    cfg = yaml_model_load(f"{variant}.yaml")
    cfg["nc"] = len(CLASS_NAMES)
    model = DetectionModel(cfg, verbose=False)
    model.names = dict(CLASS_NAMES)
    return model.eval()


def _checkpoint(model: nn.Module, variant: str, quire: dict[str, Any]) -> dict[str, Any]:
    from ultralytics import __version__

    return {
        "model": model.half(),
        "ema": None,
        "train_args": {"model": f"{variant}.yaml", "task": "detect", "imgsz": TRAIN_IMGSZ},
        "date": datetime.now().astimezone().isoformat(),
        "version": __version__,
        "quire": quire,
    }


def _save_atomically(checkpoint: dict[str, Any], out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    try:
        torch.save(checkpoint, partial)
        partial.replace(out_path)
    finally:
        partial.unlink(missing_ok=True)
