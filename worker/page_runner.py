"""Pages of many concurrent tasks share two micro-batchers: pages to the detector, then
line crops from every in-flight page to the recognizer. Each task still gets its own page."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TypeVar

from shared.errors import EngineFailed
from worker.engines.base import (
    DetectedLine,
    Image,
    OcrEngine,
    PageOcr,
    Recognition,
    assemble_page,
    crop_lines,
)
from worker.metrics import BATCH_SIZE
from worker.microbatch import MicroBatcher

T = TypeVar("T")


class BatchedPageRunner:
    """Thread-safe ``run_page`` over one engine, batching across callers."""

    def __init__(
        self, engine: OcrEngine, detector_batch: int, recognizer_batch: int, max_wait: float
    ) -> None:
        self.engine = engine
        self.detector: MicroBatcher[Image, list[DetectedLine]] = MicroBatcher(
            engine.detector.detect,
            detector_batch,
            max_wait,
            name="detector-batcher",
            on_batch=BATCH_SIZE.labels("detector").observe,
        )
        self.recognizer: MicroBatcher[Image, Recognition] = MicroBatcher(
            engine.recognizer.recognize,
            recognizer_batch,
            max_wait,
            name="recognizer-batcher",
            on_batch=BATCH_SIZE.labels("recognizer").observe,
        )

    @property
    def name(self) -> str:
        return self.engine.name

    def run_page(self, page: Image) -> PageOcr:
        """Detect and recognize one page; an engine failure confined to it is EngineFailed."""
        lines = self._wait(self.detector.submit(page), "detection")
        crops, boxes = crop_lines(page, lines)
        futures = self.recognizer.submit_many(crops)
        recognized = [self._wait(future, "recognition") for future in futures]
        return assemble_page(
            page, boxes, recognized, self.engine.min_confidence, self.engine.handwritten
        )

    @staticmethod
    def _wait(future: Future[T], stage: str) -> T:
        try:
            return future.result()
        except Exception as e:  # the batcher re-ran it alone: it fails on this page only
            raise EngineFailed(f"{stage} failed on this page: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        """Finish queued work and stop both batchers."""
        self.detector.close()
        self.recognizer.close()
