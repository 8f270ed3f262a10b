"""Prometheus metrics of a GPU worker process, served on ``QUIRE_WORKER_METRICS_PORT``."""

from __future__ import annotations

import logging
import sys

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("quire.metrics")

PAGES = Counter("quire_worker_pages", "Pages finished by this worker.", ["outcome"])
PAGE_SECONDS = Histogram(
    "quire_worker_page_seconds",
    "Time to process one page.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
QUEUE_WAIT = Histogram(
    "quire_worker_queue_wait_seconds",
    "Time from a page's creation to its claim by a worker.",
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
BATCH_SIZE = Histogram(
    "quire_worker_batch_size",
    "Items per engine batch.",
    ["stage"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GPU_MEMORY = Gauge("quire_worker_gpu_memory_bytes", "GPU memory allocated by torch.")


def observe_gpu_memory() -> None:
    """Record torch's allocated GPU memory, when torch is loaded and a GPU is present."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        GPU_MEMORY.set(torch.cuda.memory_allocated())


def serve_metrics(port: int) -> None:
    """Expose the metrics over HTTP; a taken port costs the metrics, not the worker."""
    if port <= 0:
        return
    try:
        start_http_server(port)
        log.info("metrics on :%d/metrics", port)
    except OSError as e:
        log.warning("metrics port %d unavailable: %s", port, e)
