"""What a job's choice of model costs a GPU worker: a cold load of trained weights from the
object store (S3 on a moto server, over HTTP), a reload from the worker's disk cache after an
LRU eviction, a switch between two loaded models, and pages alternating between two models
with the LRU holding both against holding one (thrashing).

Two CRNN recognizers (the shipped one and a re-saved copy, different bytes) and the shipped
YOLOv8n detector are registered as a tenant's trained models; pages are synthetic printed
pages whose lines a fixed band detector hands to the recognizer, so only the recognizer and
its loading are measured.

    .venv/bin/python -m bench.model_switch [--pages 8] [--lines 12]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import boto3
import numpy as np

from bench.common import machine, printed_page
from shared.db.migrate import upgrade
from shared.db.models import TrainedModel
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from shared.storage import build_store
from shared.tenancy import ensure_tenant
from tests.moto_server import MotoProcess
from training.recognizer.crnn import load_crnn, save_crnn
from worker.engines.base import DetectedLine, OcrEngine, Recognition
from worker.model_runners import ModelRunners
from worker.page_runner import BatchedPageRunner

REPO = Path(__file__).resolve().parents[1]


class Bands:
    """A detector that cuts a page into ``lines`` equal horizontal bands."""

    name = "bands"

    def __init__(self, lines: int) -> None:
        self.lines = lines

    def detect(self, pages: Sequence[np.ndarray]) -> list[list[DetectedLine]]:
        out = []
        for page in pages:
            height, width = page.shape[:2]
            step = height / self.lines
            out.append(
                [
                    DetectedLine(_band(i * step, (i + 1) * step, width), 1.0)
                    for i in range(self.lines)
                ]
            )
        return out


def _band(top: float, bottom: float, width: int) -> np.ndarray:
    return np.array([[0, top], [width, top], [width, bottom], [0, bottom]], dtype=np.float32)


class Silent:
    name = "silent"

    def recognize(self, crops: Sequence[np.ndarray]) -> list[Recognition]:
        return [Recognition("", 0.0) for _ in crops]


def register(
    sessions: object, store: object, tenant_id: str, name: str, path: Path, kind: str
) -> str:
    data = path.read_bytes()
    model = TrainedModel(
        tenant_id=tenant_id,
        name=name,
        version=1,
        kind=kind,
        family="crnn" if kind == "recognizer" else "yolo",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        object_key=f"tenants/{tenant_id}/models/{name}/{path.name}",
        lineage={},
    )
    store.put_bytes(model.object_key, data, "application/octet-stream")  # type: ignore[attr-defined]
    with transaction(sessions) as session:  # type: ignore[arg-type]
        session.add(model)
        session.flush()
        return model.id


def loaded(runners: ModelRunners, choice: dict[str, str | None]) -> None:
    with runners.use(choice):
        pass


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--lines", type=int, default=12)
    args = parser.parse_args()
    moto = MotoProcess()
    moto.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), moto.url, args.pages, args.lines)
    finally:
        moto.stop()


def run(tmp: Path, endpoint: str, pages: int, lines: int) -> None:
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="t",
        aws_secret_access_key="t",
        region_name="us-east-1",
    ).create_bucket(Bucket="bench")
    url = f"sqlite:///{tmp / 'quire.db'}"
    upgrade(url)

    def settings(budget_mb: int, cache: str) -> Settings:
        return Settings(
            data_dir=tmp / "data",
            database_url=url,
            store_backend="s3",
            s3_endpoint_url=endpoint,
            s3_bucket="bench",
            s3_access_key_id="t",
            s3_secret_access_key="t",
            s3_region="us-east-1",
            model_cache_dir=tmp / cache,
            loaded_models_max_mb=budget_mb,
            crnn_lm_weight=0,
            device="cpu",
        )

    base = settings(1024, "cache")
    store = build_store(base)
    sessions = build_sessionmaker(build_engine(url))
    with transaction(sessions) as session:
        tenant_id = ensure_tenant(session, "bench").id
    shipped = REPO / "models" / "quire-htr-crnn" / "recognizer.pt"
    model, codec, meta = load_crnn(shipped)
    copy = tmp / "copy" / "recognizer.pt"
    save_crnn(copy, model, codec, {**meta, "copy": "bench"})
    a = register(sessions, store, tenant_id, "hand-a", shipped, "recognizer")
    b = register(sessions, store, tenant_id, "hand-b", copy, "recognizer")
    det = register(
        sessions,
        store,
        tenant_id,
        "lines",
        REPO / "models" / "quire-lines-yolov8n" / "detector.pt",
        "detector",
    )
    page_images = [printed_page(lines, seed=i) for i in range(pages)]

    def runners(budget_mb: int, cache: str = "cache") -> ModelRunners:
        chosen = settings(budget_mb, cache)
        engine = OcrEngine(Bands(lines), Silent())

        def make(e: OcrEngine) -> BatchedPageRunner:
            return BatchedPageRunner(e, 8, 32, 0.002)

        return ModelRunners(chosen, store, sessions, lambda: engine, make)

    def pick(model_id: str) -> dict[str, str | None]:
        return {"detector": None, "recognizer": model_id}

    fresh = runners(1024, "cold")
    cold = timed(lambda: loaded(fresh, pick(a)))
    cold_detector = timed(lambda: loaded(fresh, {"detector": det, "recognizer": None}))
    hit = statistics.median(timed(lambda: loaded(fresh, pick(a))) for _ in range(50))
    fresh.close()
    reload_runners = runners(1024, "cold")  # weights on disk, nothing loaded
    from_disk = timed(lambda: loaded(reload_runners, pick(a)))
    reload_runners.close()

    def pages_per_second(budget_mb: int, order: list[str]) -> tuple[float, int]:
        lru = runners(budget_mb)
        for model_id in set(order):
            loaded(lru, pick(model_id))  # loaded once (and in the cache) before timing
        lru.loads = 0
        started = time.perf_counter()
        for image, model_id in zip(page_images, order, strict=True):
            with lru.use(pick(model_id)) as runner:
                runner.run_page(image)
        elapsed = time.perf_counter() - started
        loads = lru.loads
        lru.close()
        return len(order) / elapsed, loads

    one = [a] * pages
    alternating = [a if i % 2 == 0 else b for i in range(pages)]
    one_rate, _ = pages_per_second(1024, one)
    both_rate, both_loads = pages_per_second(1024, alternating)
    thrash_rate, thrash_loads = pages_per_second(1, alternating)
    size_mb = shipped.stat().st_size / 2**20
    print(
        f"## Model choice per job (bench/model_switch.py)\n\n{machine()}; CRNN {size_mb:.1f} MB, "
        f"{pages} pages of {lines} lines, moto S3 over loopback HTTP.\n"
    )
    steps = [
        ("cold load of a trained recognizer from S3 (fetch, SHA-256, build)", cold * 1000, "ms"),
        ("cold load of a trained YOLOv8n detector from S3", cold_detector * 1000, "ms"),
        ("reload from the worker's disk cache (after an eviction)", from_disk * 1000, "ms"),
        ("switch to a loaded model (LRU hit, median of 50)", hit * 1e6, "µs"),
    ]
    print("| step | time |\n|---|---|")
    for what, value, unit in steps:
        print(f"| {what} | {value:.0f} {unit} |")
    rows = [
        ("one model", "holds it", one_rate, 0),
        ("two models alternating", "holds both", both_rate, both_loads),
        ("two models alternating", "holds one (1 MB budget)", thrash_rate, thrash_loads),
    ]
    print("\n| pages | LRU | pages/s | loads while timed | ratio to one model |")
    print("|---|---|---|---|---|")
    for what, lru, rate, loads in rows:
        print(f"| {what} | {lru} | {rate:.2f} | {loads} | {rate / one_rate:.2f} |")


if __name__ == "__main__":
    main()
