"""Per-process resources of a worker, built once at start (the engine after fork)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db.session import build_engine, build_sessionmaker
from shared.imageinfo import configure_pillow
from shared.settings import Settings
from shared.storage import ObjectStore, build_store
from worker.engines.base import OcrEngine
from worker.engines.registry import build_engine as build_ocr_engine
from worker.heartbeat import InFlight
from worker.model_runners import ModelRunners
from worker.page_runner import BatchedPageRunner


@dataclass
class WorkerContext:
    """What tasks need: settings, database, store, the producer and (GPU queue) the engine."""

    settings: Settings
    db: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    producer: Celery
    in_flight: InFlight = field(default_factory=InFlight)
    # The heartbeat name of this process's worker: its page claims carry it (fast reclaim).
    worker_name: str | None = None
    _engine: OcrEngine | None = None
    _runner: BatchedPageRunner | None = None
    _chosen: ModelRunners | None = None
    _engine_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, producer: Celery) -> WorkerContext:
        configure_pillow(settings.max_image_pixels)
        db = build_engine(settings.effective_database_url)
        return cls(settings, db, build_sessionmaker(db), build_store(settings), producer)

    @property
    def engine(self) -> OcrEngine:
        """The OCR engine, loaded on first use and kept for the life of the process."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = build_ocr_engine(self.settings)
        return self._engine

    @property
    def runner(self) -> BatchedPageRunner:
        """The page runner that batches this process's pages through the engine."""
        engine = self.engine
        if self._runner is None:
            with self._engine_lock:
                if self._runner is None:
                    self._runner = self._new_runner(engine)
        return self._runner

    def runner_for(
        self, choice: Mapping[str, str | None] | None
    ) -> AbstractContextManager[BatchedPageRunner]:
        """The runner of a job's chosen models (``Job.model_choice``), held for one page; the
        worker's own runner when the job chose none."""
        if not choice:
            return nullcontext(self.runner)
        if self._chosen is None:
            with self._engine_lock:
                if self._chosen is None:
                    self._chosen = ModelRunners(
                        self.settings,
                        self.store,
                        self.sessions,
                        lambda: self.engine,
                        self._new_runner,
                    )
        return self._chosen.use(choice)

    def _new_runner(self, engine: OcrEngine) -> BatchedPageRunner:
        return BatchedPageRunner(
            engine,
            detector_batch=self.settings.detector_batch_size,
            recognizer_batch=self.settings.recognizer_batch_size,
            max_wait=self.settings.batch_max_wait_ms / 1000,
        )

    def load_engine(self) -> None:
        """Load the engine now (at process start) rather than on the first page."""
        _ = self.runner

    def close(self) -> None:
        """Drain the batchers and release connections (worker shutdown)."""
        if self._runner is not None:
            self._runner.close()
        if self._chosen is not None:
            self._chosen.close()
        self.db.dispose()

    def after_fork(self) -> None:
        """A forked child must not share the parent's database connections."""
        self.db.dispose(close=False)
