"""A micro-batcher: many threads submit items, one thread runs them in batches.

A batch is flushed when it reaches ``max_size`` items or ``max_wait`` seconds after its first
item arrived, whichever comes first. Each item gets a future. If a batch fails, its items are
run again one by one, so one bad item fails alone and the rest of the batch still succeeds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")
log = logging.getLogger("quire.batcher")


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new work."""


@dataclass
class BatchStats:
    """Counters for benchmarks and metrics."""

    batches: int = 0
    items: int = 0
    isolated_failures: int = 0
    sizes: list[int] = field(default_factory=list)


class MicroBatcher(Generic[In, Out]):
    """Runs ``fn`` over batches of submitted items on a dedicated thread."""

    def __init__(
        self,
        fn: Callable[[list[In]], Sequence[Out]],
        max_size: int,
        max_wait: float,
        name: str = "batcher",
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_size < 1 or max_wait < 0:
            raise ValueError("max_size must be >= 1 and max_wait >= 0")
        self.fn, self.max_size, self.max_wait, self.name = fn, max_size, max_wait, name
        self.stats = BatchStats()
        self.on_batch = on_batch
        self._queue: queue.Queue[tuple[In, Future[Out]] | None] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: In) -> Future[Out]:
        """Queue one item; its future resolves when its batch has run."""
        if self._closed.is_set():
            raise BatcherClosed(f"{self.name} is closed")
        future: Future[Out] = Future()
        self._queue.put((item, future))
        return future

    def submit_many(self, items: Sequence[In]) -> list[Future[Out]]:
        return [self.submit(item) for item in items]

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking work, finish what is queued, stop the thread."""
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                return

    def _collect(self, first: tuple[In, Future[Out]]) -> tuple[list[tuple[In, Future[Out]]], bool]:
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_size:
            remaining = deadline - time.monotonic()
            try:
                entry = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if entry is None:
                return batch, True
            batch.append(entry)
        return batch, False

    def _run(self, batch: list[tuple[In, Future[Out]]]) -> None:
        live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        self.stats.batches += 1
        self.stats.items += len(live)
        self.stats.sizes.append(len(live))
        if self.on_batch is not None:
            self.on_batch(len(live))
        try:
            results = list(self.fn([item for item, _ in live]))
            if len(results) != len(live):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(live)} items")
        except Exception as e:
            if len(live) == 1:
                self.stats.isolated_failures += 1
                live[0][1].set_exception(e)
                return
            log.warning("%s: batch of %d failed (%s); running items alone", self.name, len(live), e)
            for item, future in live:
                self._run_alone(item, future)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, item: In, future: Future[Out]) -> None:
        try:
            future.set_result(self.fn([item])[0])
        except Exception as e:
            self.stats.isolated_failures += 1
            future.set_exception(e)
