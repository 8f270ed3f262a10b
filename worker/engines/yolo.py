"""YOLOv8 text-line detector on Ultralytics, offline.

Boxes are axis-aligned, returned as quadrilaterals clockwise from top-left. Every page is
letterboxed to the full ``imgsz`` square (``rect=False``): Ultralytics otherwise pads a batch of
equal-sized pages less than a mixed one, and a page's lines would depend on its batch neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from shared.ultralytics_env import prepare_ultralytics
from worker.engines.base import DetectedLine, Image


class YoloDetector:
    """Ultralytics YOLO detector of single-class text lines.

    Safe to share between threads: predictions are serialized, since an Ultralytics model keeps
    per-call state in its predictor.
    """

    def __init__(
        self,
        weights: Path,
        *,
        conf: float = 0.25,
        iou: float = 0.45,
        imgsz: int = 640,
        batch_size: int = 8,
        device: str = "auto",
        config_dir: Path | None = None,
        name: str | None = None,
    ) -> None:
        """Load the checkpoint once.

        Args:
            weights: A local ``.pt`` checkpoint (see ``worker.engines.yolo_build``); never fetched.
            conf: Minimum box confidence.
            iou: IoU threshold of non-maximum suppression.
            imgsz: Side of the square each page is letterboxed to.
            batch_size: Pages per forward pass.
            device: ``"auto"`` (first GPU if any, else CPU), ``"cpu"``, ``"cuda:0"``, ...
            config_dir: Ultralytics settings folder if ``YOLO_CONFIG_DIR`` is unset (default:
                ``ultralytics_env.default_config_dir()``).
            name: Engine name for results (default: ``yolov8:<weights stem>``).

        Raises:
            FileNotFoundError: If ``weights`` is not a file (Ultralytics would try to download it).
            ValueError: If ``batch_size`` is below 1.
        """
        if not weights.is_file():
            raise FileNotFoundError(f"YOLO weights not found: {weights}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        prepare_ultralytics(config_dir)
        from ultralytics import YOLO

        self.name = name or f"yolov8:{weights.stem}"
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self._options: dict[str, Any] = {
            "conf": conf,
            "iou": iou,
            "imgsz": imgsz,
            "device": self.device,
            "quantize": 16 if self.device.startswith("cuda") else None,
            "rect": False,
            "save": False,
            "verbose": False,
        }
        self._model = YOLO(str(weights), task="detect")
        self._lock = threading.Lock()

    def detect(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        """One list of lines per page (RGB), in the order of ``pages``, ``batch_size`` at a time."""
        results: list[list[DetectedLine]] = []
        for start in range(0, len(pages), self.batch_size):
            results.extend(self._detect_batch(pages[start : start + self.batch_size]))
        return results

    def _detect_batch(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        bgr = [cv2.cvtColor(page, cv2.COLOR_RGB2BGR) for page in pages]
        with self._lock:
            predictions: Iterable[Any] = self._model.predict(bgr, batch=len(bgr), **self._options)
        lines = []
        for page, prediction in zip(pages, predictions, strict=True):
            xyxy, scores = _boxes_and_scores(prediction)
            lines.append(lines_from_boxes(xyxy, scores, page.shape[1], page.shape[0]))
        return lines


def _boxes_and_scores(prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    boxes = prediction.boxes
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.float32)
    return boxes.xyxy.float().cpu().numpy(), boxes.conf.float().cpu().numpy()


def resolve_device(device: str) -> str:
    """``"auto"`` means ``"cuda:0"`` if CUDA is available, else ``"cpu"``; others pass as given."""
    if device != "auto":
        return device
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def lines_from_boxes(
    xyxy: np.ndarray, scores: np.ndarray, width: int, height: int
) -> list[DetectedLine]:
    """Axis-aligned boxes as quads clockwise from top-left, clipped to a page.

    Args:
        xyxy: N x 4 boxes ``(x0, y0, x1, y1)`` in page pixels.
        scores: N confidences.
        width: Page width in pixels.
        height: Page height in pixels.

    Returns:
        One line per box, in the order given.
    """
    clipped = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    lines = []
    for (x0, y0, x1, y1), score in zip(clipped, scores, strict=True):
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
        lines.append(DetectedLine(quad, float(score)))
    return lines
