"""The page runners of the models jobs choose, loaded on demand and kept in an LRU.

A job's ``model_choice`` names a detector and a recognizer (a shipped model's name or a
tenant's trained model's id; None keeps the worker's own engine stage). Each distinct pair
gets its own ``BatchedPageRunner``, so pages are batched per model and two models in flight
never share a batch. Runners are kept while the weights they loaded stay under
``QUIRE_LOADED_MODELS_MAX_MB`` (the worker's own engine is not counted); the least recently
used one is closed first. Trained weights come from the object store into the model cache,
checked against their SHA-256, written atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.db.models import TrainedModel
from shared.db.session import transaction
from shared.errors import QuireError
from shared.model_registry import WEIGHT_FILES
from shared.settings import Settings
from shared.storage import ObjectStore
from worker.engines.base import Detector, OcrEngine, Recognizer
from worker.engines.builtin_models import builtin_path
from worker.engines.model_source import ResolvedModel, identity_of
from worker.engines.registry import builtin_model, crnn_recognizer_from, yolo_detector_from
from worker.page_runner import BatchedPageRunner

log = logging.getLogger("quire.worker")
MIB = 1024 * 1024
Choice = tuple[str | None, str | None]


class ModelUnavailable(QuireError):
    """A job's chosen model was deleted after submit, or its weights cannot be read."""

    code = "model_unavailable"
    title = "The job's model is not available"


@dataclass
class _Loaded:
    runner: BatchedPageRunner
    size_bytes: int
    users: int = 0  # pages between ``use`` and its end
    evicted: bool = False  # out of the LRU; closed when its last page is done


class ModelRunners:
    """Runners per model choice; thread-safe. A runner is closed only once no page uses it:
    an eviction while pages of it are in flight defers the close to the last of them."""

    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        sessions: Any,
        default_engine: Callable[[], OcrEngine],
        make_runner: Callable[[OcrEngine], BatchedPageRunner],
    ) -> None:
        self.settings, self.store, self.sessions = settings, store, sessions
        self.default_engine, self.make_runner = default_engine, make_runner
        self.budget = settings.loaded_models_max_mb * MIB
        self._loaded: OrderedDict[Choice, _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    @contextmanager
    def use(self, choice: Mapping[str, str | None]) -> Iterator[BatchedPageRunner]:
        """The runner of ``choice`` (loaded now if it is not), held for one page."""
        key: Choice = (choice.get("detector"), choice.get("recognizer"))
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None:
                loaded = self._load_locked(key)
            else:
                self._loaded.move_to_end(key)
            loaded.users += 1
            self._evict()
        try:
            yield loaded.runner
        finally:
            with self._lock:
                loaded.users -= 1
                done = loaded.evicted and loaded.users == 0
            if done:
                loaded.runner.close()

    def close(self) -> None:
        with self._lock:
            for loaded in self._loaded.values():
                loaded.runner.close()
            self._loaded.clear()

    def _load_locked(self, key: Choice) -> _Loaded:
        started = time.perf_counter()
        loaded = self._load(key)
        self.loads += 1
        self._loaded[key] = loaded
        log.info(
            "loaded models %s in %.2fs (%d loaded)",
            loaded.runner.name,
            time.perf_counter() - started,
            len(self._loaded),
        )
        return loaded

    def _evict(self) -> None:
        """Drop least recently used runners while the weights are over the budget (the one
        just used always stays); a runner pages still use is closed by the last of them."""
        while (
            len(self._loaded) > 1 and sum(v.size_bytes for v in self._loaded.values()) > self.budget
        ):
            key, oldest = self._loaded.popitem(last=False)
            self.evictions += 1
            if oldest.users == 0:
                oldest.runner.close()
            else:
                oldest.evicted = True
            log.info(
                "unloaded models %s (LRU, over %d MB)", key, self.settings.loaded_models_max_mb
            )

    def _load(self, key: Choice) -> _Loaded:
        detector_ref, recognizer_ref = key
        engine = self.default_engine()
        size = 0
        detector: Detector = engine.detector
        recognizer: Recognizer = engine.recognizer
        if detector_ref is not None:
            model, bytes_ = self._resolve(detector_ref, "detector")
            detector, size = yolo_detector_from(self.settings, model), size + bytes_
        if recognizer_ref is not None:
            model, bytes_ = self._resolve(recognizer_ref, "recognizer")
            recognizer, size = crnn_recognizer_from(self.settings, model), size + bytes_
        min_confidence = engine.min_confidence if detector_ref is None else 0.0
        return _Loaded(self.make_runner(OcrEngine(detector, recognizer, min_confidence)), size)

    def _resolve(self, ref: str, kind: str) -> tuple[ResolvedModel, int]:
        shipped = builtin_path(ref, self.settings.builtin_models_dir)
        if shipped is not None:
            return builtin_model(self.settings, ref), shipped.stat().st_size
        with transaction(self.sessions) as session:
            model = session.get(TrainedModel, ref)
            if model is None or model.kind != kind:
                raise ModelUnavailable(f"the job's {kind} {ref!r} was deleted")
            name, version, sha, key = model.name, model.version, model.sha256, model.object_key
        path = self.settings.effective_model_cache_dir / "trained" / sha / WEIGHT_FILES[kind]
        if not path.is_file():
            fetch_weights(self.store, key, sha, path)
        return ResolvedModel(str(path), identity_of(f"{name}-v{version}", sha)), path.stat().st_size


def fetch_weights(store: ObjectStore, key: str, sha256: str, path: Path) -> None:
    """The weights from the store into ``path``, checked, renamed into place atomically."""
    if not store.exists(key):
        raise ModelUnavailable(f"the model's weights {key} are not stored")
    data = store.get_bytes(key)
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256):
        raise ModelUnavailable(f"the model's weights {key} do not match their SHA-256")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_bytes(data)
    partial.replace(path)
