"""Training through the API with every part a real process: the API, a CPU worker (dataset
import), a ``train`` worker, the sweeper and a GPU worker, on PostgreSQL, Redis and S3 (moto).

A tenant pushes synthetic PAGE XML pages, trains a recognizer (its worker killed with SIGKILL
mid-training: the next worker resumes from the last checkpoint, one version, one
``training.completed``), trains a detector, promotes them, and jobs run with those models."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from shared.db.models import TrainedModel, WebhookDelivery
from shared.db.session import build_engine, build_sessionmaker
from tests.conftest import text_image
from tests.e2e.conftest import Stack, poll_job, wait_for
from tests.training_data import synth_pages, zipped

pytestmark = pytest.mark.e2e


def poll(base: str, headers: dict[str, str], path: str, done: Any, timeout: float = 240) -> dict:
    seen: dict = {}

    def ready() -> bool:
        nonlocal seen
        seen = httpx.get(f"{base}{path}", headers=headers, timeout=10).json()
        return bool(done(seen))

    wait_for(ready, timeout, lambda: f"{path} (last: {seen})", step=0.3)
    return seen


def count(database_url: str, query: Any) -> int:
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def test_train_resume_after_sigkill_promote_and_run_jobs_with_the_models(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    stack.env.update(
        {
            "QUIRE_TRAINING_LEASE_SECONDS": "10",
            "QUIRE_TRAINING_THREADS": "1",
            "QUIRE_RECONCILE_INTERVAL_SECONDS": "2",
            "QUIRE_STALE_AFTER_SECONDS": "3",
        }
    )
    stack.start_api()
    for queue in ("cpu", "train", "gpu"):
        stack.start_worker(queue)
    stack.start_sweeper()
    base, headers = stack.url, {"X-API-Key": api_key}

    archive = zipped(synth_pages(tmp_path, n=4, seed=11))
    pushed = httpx.post(
        f"{base}/v1/datasets", headers=headers, files={"file": ("letters.zip", archive)}
    ).json()
    dataset = poll(
        base, headers, f"/v1/datasets/{pushed['id']}", lambda d: d["status"] != "importing"
    )
    assert dataset["status"] == "ready" and dataset["stats"]["pages"] == 4, dataset

    body = {
        "kind": "recognizer",
        "dataset_id": dataset["id"],
        "name": "letters",
        "base_model": "quire-htr-crnn",
        "max_epochs": 5,
        "validation": {"fraction": 0.25, "seed": 2},
        "callback_url": "https://hooks.example.com/trained",
        "options": {"epoch_lines": 32, "batch_size": 8, "warmup_steps": 5, "learning_rate": 1e-4},
    }
    training = httpx.post(f"{base}/v1/trainings", headers=headers, json=body).json()
    path = f"/v1/trainings/{training['id']}"
    poll(base, headers, path, lambda t: t["epoch"] >= 1, timeout=180)
    stack.stop("worker-train", signal.SIGKILL)  # mid-training: its lease lapses in 10 s
    killed_at = poll(base, headers, path, lambda t: True)["epoch"]
    assert killed_at < 5, "the training ended before its worker was killed"
    stack.start_worker("train")
    done = poll(base, headers, path, lambda t: t["status"] not in ("queued", "running"), 300)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert [e["epoch"] for e in done["epochs"]] == [1, 2, 3, 4, 5]  # resumed, not restarted
    database = stack.env["QUIRE_DATABASE_URL"]
    versions = select(func.count()).select_from(TrainedModel).where(TrainedModel.name == "letters")
    assert count(database, versions) == 1
    completed = (
        select(func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.event_type == "training.completed")
    )
    assert count(database, completed) == 1
    recognizer = done["model_id"]

    detector_run = httpx.post(
        f"{base}/v1/trainings",
        headers=headers,
        json={
            "kind": "detector",
            "dataset_id": dataset["id"],
            "name": "letter-lines",
            "base_model": "quire-lines-yolov8n",
            "max_epochs": 1,
            "options": {"image_size": 160, "batch_size": 2},
        },
    ).json()
    detector_done = poll(
        base,
        headers,
        f"/v1/trainings/{detector_run['id']}",
        lambda t: t["status"] not in ("queued", "running"),
        300,
    )
    assert detector_done["status"] in ("succeeded", "did_not_converge"), detector_done
    assert "map50" in detector_done["epochs"][0]["metrics"]

    promoted = httpx.post(f"{base}/v1/models/{recognizer}/promote", headers=headers).json()
    assert promoted["default"] and promoted["name"] == "letters"
    page = ("letter.png", text_image(["Dear Annie, thank you", "for the letter"]), "image/png")
    job = httpx.post(f"{base}/v1/jobs", headers=headers, files={"file": page}).json()
    assert job["models"] == {"detector": None, "recognizer": recognizer}
    poll_job(base, api_key, job["id"], {"succeeded"})
    result = httpx.get(f"{base}/v1/jobs/{job['id']}/result", headers=headers).json()
    assert "letters-v1@sha256:" in result["model"], result["model"]

    if detector_done["status"] == "succeeded":
        pair = f"{detector_done['model_id']}+{recognizer}"
        job = httpx.post(
            f"{base}/v1/jobs", headers=headers, files={"file": page}, data={"model": pair}
        ).json()
        poll_job(base, api_key, job["id"], {"succeeded"})
        result = httpx.get(f"{base}/v1/jobs/{job['id']}/result", headers=headers).json()
        assert "letter-lines-v1@sha256:" in result["model"] and "letters-v1" in result["model"]
    listed = httpx.get(f"{base}/v1/models", headers=headers).json()["items"]
    assert {m["name"] for m in listed if not m["builtin"]} >= {"letters"}
    time.sleep(0)  # the stack's logs are printed by the fixture on failure
