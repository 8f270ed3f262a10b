"""Datasets, trainings and the model registry through the API in-process, with the worker's
steps (``import_dataset``, ``run_training``, ``ocr_page``) run in the test, on SQLite and
PostgreSQL, Redis and a local store."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shared.celery_config import build_celery
from shared.db.models import Dataset, TrainedModel, Training, WebhookDelivery
from shared.db.session import transaction
from shared.queues import IMPORT_DATASET, import_dataset_payload
from shared.settings import Settings
from tests.conftest import text_image
from tests.integration.conftest import auth
from tests.training_data import synth_pages, zipped
from training.service.dataset_import import import_dataset
from training.service.runner import run_training
from worker.context import WorkerContext
from worker.ocr_page import ocr_page
from worker.prepare import prepare_job
from worker.tasks import register_tasks

pytestmark = pytest.mark.integration
RECOGNIZER_OPTIONS = {"epoch_lines": 16, "batch_size": 8, "warmup_steps": 5, "learning_rate": 1e-4}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_pages(tmp_path_factory.mktemp("gt"), n=4, seed=5)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"training_threads": 1})


@pytest.fixture
def key(new_key: Callable[..., str]) -> str:
    return new_key("trainer")


def push(client: TestClient, key: str, data: bytes, name: str = "gt.zip") -> dict[str, Any]:
    answer = client.post("/v1/datasets", headers=auth(key), files={"file": (name, data)})
    assert answer.status_code == 202, answer.text
    return answer.json()


def imported(client: TestClient, ctx: WorkerContext, key: str, dataset: dict) -> dict:
    import_dataset(ctx, dataset["id"])
    return client.get(f"/v1/datasets/{dataset['id']}", headers=auth(key)).json()


@pytest.fixture
def ready(client: TestClient, ctx: WorkerContext, key: str, pages: Path) -> dict[str, Any]:
    return imported(client, ctx, key, push(client, key, zipped(pages)))


def test_a_dataset_whose_archive_is_gone_fails_once_through_the_task(
    client: TestClient, ctx: WorkerContext, new_key: Callable[..., str], pages: Path
) -> None:
    # Through the Celery task as a worker runs it: a missing object cannot come back, so the
    # dataset ends failed with its code (left importing, the reconcile pass would resend it
    # forever).
    key = new_key("archive-gone")
    dataset = push(client, key, zipped(pages))
    with transaction(ctx.sessions) as session:
        source_key = session.get(Dataset, dataset["id"]).source_key
    ctx.store.delete(source_key)
    app = build_celery(ctx.settings)
    register_tasks(app, ctx)
    app.tasks[IMPORT_DATASET].apply(kwargs=import_dataset_payload(dataset["id"]))
    app.close()
    done = client.get(f"/v1/datasets/{dataset['id']}", headers=auth(key)).json()
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "object_missing", done


def test_a_dataset_imports_with_its_figures_and_per_file_problems(
    client: TestClient, ctx: WorkerContext, key: str, pages: Path
) -> None:
    broken = {"broken.xml": b"<PcGts><Page", "notes.txt": b"ignored", "../escape.xml": b"x"}
    dataset = push(client, key, zipped(pages, broken))
    assert dataset["status"] == "importing" and dataset["stats"] is None
    done = imported(client, ctx, key, dataset)
    assert done["status"] == "ready", done
    assert done["stats"]["pages"] == 4 and done["stats"]["lines"] > 20
    assert done["stats"]["characters"] > 100 and "e" in done["stats"]["alphabet"]
    codes = {(p["file"], p["code"]) for p in done["problems"]}
    assert ("../escape.xml", "unsafe_path") in codes
    assert any(f == "broken.xml" for f, _ in codes), codes
    listed = client.get("/v1/datasets", headers=auth(key)).json()["items"]
    assert [d["id"] for d in listed] == [dataset["id"]]


def test_bad_datasets_are_refused_or_fail_with_a_code(
    client: TestClient, ctx: WorkerContext, key: str, new_key: Callable[..., str]
) -> None:
    refused = client.post("/v1/datasets", headers=auth(key), files={"file": ("a.png", b"\x89PNG")})
    assert refused.status_code == 415
    only_broken = push(client, key, zipped(Path("/nonexistent"), {"a.xml": b"<broken"}))
    failed = imported(client, ctx, key, only_broken)
    assert failed["status"] == "failed" and failed["error"]["code"] == "dataset_empty"
    assert failed["problems"][0]["file"] == "a.xml"
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as tar:
        link = tarfile.TarInfo("page.xml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    linked = imported(client, ctx, key, push(client, key, bomb.getvalue(), "gt.tar.gz"))
    assert linked["status"] == "failed"
    assert linked["problems"][0]["code"] == "not_a_regular_file"
    assert (
        client.get(f"/v1/datasets/{linked['id']}", headers=auth(new_key("other"))).status_code
        == 404
    )
    missing = client.post("/v1/datasets", headers=auth(key), json={"from_batch": "nope"})
    assert missing.status_code == 404
    both = client.post("/v1/datasets", headers=auth(key), json={})
    assert both.status_code == 422


def test_training_requests_are_checked_at_submit(
    client: TestClient, key: str, ready: dict, new_key: Callable[..., str]
) -> None:
    def start(**body: Any) -> Any:
        payload = {"kind": "recognizer", "dataset_id": ready["id"], **body}
        return client.post("/v1/trainings", headers=auth(key), json=payload)

    assert start(kind="painter").status_code == 422
    assert start(dataset_id="nope").status_code == 404
    assert start(options={"colour": "red"}).json()["code"] == "invalid_request"
    wrong_kind = start(base_model="quire-lines-yolov8n")
    assert wrong_kind.status_code == 422 and wrong_kind.json()["code"] == "unknown_model"
    assert start(base_model="not-a-model").json()["code"] == "unknown_model"
    assert start(max_epochs=0).status_code == 422
    stranger = client.post(
        "/v1/trainings",
        headers=auth(new_key("stranger")),
        json={"kind": "recognizer", "dataset_id": ready["id"]},
    )
    assert stranger.status_code == 404


def test_a_recognizer_trains_its_model_is_promoted_and_a_job_uses_it(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict, make_job: Callable[..., str]
) -> None:
    body = {
        "kind": "recognizer",
        "dataset_id": ready["id"],
        "name": "my-hand",
        "base_model": "quire-htr-crnn",  # fine-tuned, it reads from the first epoch
        "max_epochs": 2,
        "validation": {"fraction": 0.25, "seed": 1},
        "options": RECOGNIZER_OPTIONS,
        "callback_url": "https://hooks.example.com/quire",
    }
    headers = {**auth(key), "Idempotency-Key": "train-once"}
    training = client.post("/v1/trainings", headers=headers, json=body).json()
    again = client.post("/v1/trainings", headers=headers, json=body)
    assert again.json()["id"] == training["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert training["status"] == "queued" and training["epochs"] == []
    run_training(ctx, training["id"])
    run_training(ctx, training["id"])  # a redelivered message: nothing runs twice
    done = client.get(f"/v1/trainings/{training['id']}", headers=auth(key)).json()
    assert done["status"] == "succeeded", done
    assert [e["epoch"] for e in done["epochs"]] == [1, 2]
    assert min(e["metrics"]["val_cer"] for e in done["epochs"]) < 0.95  # it reads
    assert done["stopped"] == "epochs" and done["eta_seconds"] is None
    with transaction(ctx.sessions) as session:
        events = session.scalars(
            select(WebhookDelivery.payload).where(
                WebhookDelivery.event_type == "training.completed"
            )
        ).all()
    mine = [e for e in events if json.loads(e)["data"]["training_id"] == training["id"]]
    assert len(mine) == 1 and json.loads(mine[0])["data"]["model_id"] == done["model_id"]

    models = client.get("/v1/models", headers=auth(key)).json()["items"]
    by_id = {m["id"]: m for m in models}
    assert {"quire-htr-crnn", "quire-lines-yolov8n"} <= set(by_id)
    mine = by_id[done["model_id"]]
    assert mine["name"] == "my-hand" and mine["version"] == 1 and not mine["builtin"]
    assert mine["kind"] == "recognizer" and "val_cer" in mine["metrics"]
    assert mine["lineage"]["training_id"] == training["id"] and len(mine["sha256"]) == 64
    promoted = client.post(f"/v1/models/{mine['id']}/promote", headers=auth(key)).json()
    assert promoted["default"] is True

    # A job without `model` now uses the promoted recognizer; its result names the version.
    page = text_image(["a short line", "and another"])
    job = client.post("/v1/jobs", headers=auth(key), files={"file": ("p.png", page)}).json()
    assert job["models"] == {"detector": None, "recognizer": mine["id"]}
    prepare_job(ctx, job["id"])
    ocr_page(ctx, job["id"], 0)
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=auth(key)).json()
    assert "my-hand-v1@sha256:" in result["model"], result["model"]
    in_use = client.delete(f"/v1/models/{mine['id']}", headers=auth(key))
    assert in_use.status_code in (204, 409)  # the job finished: deleting is allowed


def test_unknown_and_foreign_models_are_refused_at_submit(
    client: TestClient, key: str, new_key: Callable[..., str]
) -> None:
    files = {"file": ("p.png", text_image(["a line"]))}
    answer = client.post("/v1/jobs", headers=auth(key), files=files, data={"model": "nope"})
    assert answer.status_code == 422 and answer.json()["code"] == "unknown_model"
    two = client.post(
        "/v1/jobs",
        headers=auth(key),
        files=files,
        data={"model": "quire-htr-crnn+quire-htr-crnn"},
    )
    assert two.json()["code"] == "unknown_model" and "two recognizers" in two.json()["detail"]
    batch = client.post("/v1/batches", headers=auth(key), json={"upload_id": "x", "model": "nope"})
    assert batch.status_code == 422 and batch.json()["code"] == "unknown_model"
    assert client.get("/v1/models/nope", headers=auth(key)).status_code == 404
    shipped = client.delete("/v1/models/quire-htr-crnn", headers=auth(key))
    assert shipped.status_code == 422


def test_a_training_that_never_reads_ends_did_not_converge(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict
) -> None:
    body = {
        "kind": "recognizer",
        "dataset_id": ready["id"],
        "max_epochs": 1,
        "options": {**RECOGNIZER_OPTIONS, "learning_rate": 1e-9},
    }
    training = client.post("/v1/trainings", headers=auth(key), json=body).json()
    run_training(ctx, training["id"])
    done = client.get(f"/v1/trainings/{training['id']}", headers=auth(key)).json()
    assert done["status"] == "did_not_converge" and done["model_id"] is None
    assert done["error"]["code"] == "did_not_converge" and len(done["epochs"]) == 1


def test_cancel_max_minutes_and_a_deleted_dataset(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict
) -> None:
    body = {
        "kind": "recognizer",
        "dataset_id": ready["id"],
        "base_model": "quire-htr-crnn",
        "options": RECOGNIZER_OPTIONS,
    }
    queued = client.post("/v1/trainings", headers=auth(key), json=body).json()
    assert client.delete(f"/v1/datasets/{ready['id']}", headers=auth(key)).status_code == 409
    canceled = client.post(f"/v1/trainings/{queued['id']}/cancel", headers=auth(key)).json()
    assert canceled["status"] == "canceled"
    assert client.post(f"/v1/trainings/{queued['id']}/cancel", headers=auth(key)).status_code == 409
    run_training(ctx, queued["id"])  # its message still arrives: nothing runs
    assert client.get(f"/v1/trainings/{queued['id']}", headers=auth(key)).json()["epochs"] == []

    budget = {**body, "max_epochs": 500, "max_minutes": 0.02}
    timed = client.post("/v1/trainings", headers=auth(key), json=budget).json()
    started = time.monotonic()
    run_training(ctx, timed["id"])
    assert time.monotonic() - started < 60
    done = client.get(f"/v1/trainings/{timed['id']}", headers=auth(key)).json()
    assert done["stopped"] == "time_budget" and done["status"] == "succeeded"
    assert done["model_id"] is not None and 1 <= len(done["epochs"]) < 500

    gone = client.post("/v1/trainings", headers=auth(key), json=body).json()
    with transaction(ctx.sessions) as session:
        session.get(Training, gone["id"]).dataset_id = None  # type: ignore[union-attr]
    run_training(ctx, gone["id"])
    failed = client.get(f"/v1/trainings/{gone['id']}", headers=auth(key)).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "dataset_gone"
    assert client.delete(f"/v1/datasets/{ready['id']}", headers=auth(key)).status_code == 204


@pytest.fixture
def trained_recognizer(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict
) -> Iterator[str]:
    body = {
        "kind": "recognizer",
        "dataset_id": ready["id"],
        "base_model": "quire-htr-crnn",
        "max_epochs": 1,
        "options": RECOGNIZER_OPTIONS,
    }
    training = client.post("/v1/trainings", headers=auth(key), json=body).json()
    run_training(ctx, training["id"])
    yield client.get(f"/v1/trainings/{training['id']}", headers=auth(key)).json()["model_id"]


def test_a_model_in_use_is_not_deleted_and_others_never_see_it(
    client: TestClient, key: str, trained_recognizer: str, new_key: Callable[..., str]
) -> None:
    job = client.post(
        "/v1/jobs",
        headers=auth(key),
        files={"file": ("p.png", text_image(["hello"]))},
        data={"model": f"quire-lines-yolov8n+{trained_recognizer}"},
    ).json()
    assert job["models"] == {"detector": "quire-lines-yolov8n", "recognizer": trained_recognizer}
    answer = client.delete(f"/v1/models/{trained_recognizer}", headers=auth(key))
    assert answer.status_code == 409 and answer.json()["code"] == "model_in_use"
    other = auth(new_key("someone-else"))
    assert client.get(f"/v1/models/{trained_recognizer}", headers=other).status_code == 404
    assert trained_recognizer not in {
        m["id"] for m in client.get("/v1/models", headers=other).json()["items"]
    }
    refused = client.post(
        "/v1/jobs",
        headers=other,
        files={"file": ("p.png", text_image(["x"]))},
        data={"model": trained_recognizer},
    )
    assert refused.status_code == 422 and refused.json()["code"] == "unknown_model"
    assert client.post(f"/v1/models/{trained_recognizer}/promote", headers=other).status_code == 404


def test_pages_over_the_pixel_limit_are_passed_over(
    client: TestClient, ctx: WorkerContext, key: str, pages: Path
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"max_image_pixels": 1_000_000})
    done = imported(client, ctx, key, push(client, key, zipped(pages)))
    assert done["status"] == "failed" and done["error"]["code"] == "dataset_empty"
    assert {p["code"] for p in done["problems"]} == {"image_too_large"}


def test_the_codec_grows_to_the_datasets_characters(
    client: TestClient, ctx: WorkerContext, key: str, pages: Path, tmp_path: Path
) -> None:
    """A base model without a character the dataset writes is extended, not refused: the
    new model's alphabet holds every character of the training lines."""
    from training.recognizer.crnn import load_crnn

    extended = tmp_path / "gt"
    extended.mkdir()
    for path in pages.iterdir():
        data = path.read_bytes()
        if path.suffix == ".xml":  # a pound sign the shipped model never wrote
            data = data.replace(b"<Unicode>", "<Unicode>\u20a4".encode(), 3)
        (extended / path.name).write_bytes(data)
    dataset = imported(client, ctx, key, push(client, key, zipped(extended)))
    assert "\u20a4" in dataset["stats"]["alphabet"]
    _, base_codec, _ = load_crnn(Path("models/quire-htr-crnn/recognizer.pt"))
    assert "\u20a4" not in base_codec.alphabet
    body = {
        "kind": "recognizer",
        "dataset_id": dataset["id"],
        "base_model": "quire-htr-crnn",
        "max_epochs": 1,
        "validation": {"fraction": 0.25, "seed": 3},
        "options": RECOGNIZER_OPTIONS,
    }
    training = client.post("/v1/trainings", headers=auth(key), json=body).json()
    run_training(ctx, training["id"])
    done = client.get(f"/v1/trainings/{training['id']}", headers=auth(key)).json()
    model = client.get(f"/v1/models/{done['model_id']}", headers=auth(key)).json()
    with transaction(ctx.sessions) as session:
        key_of = session.get(TrainedModel, model["id"]).object_key  # type: ignore[union-attr]
    weights = tmp_path / "recognizer.pt"
    weights.write_bytes(ctx.store.get_bytes(key_of))
    _, codec, _ = load_crnn(weights)
    assert "\u20a4" in codec.alphabet and set(base_codec.alphabet) <= set(codec.alphabet)


def test_reconcile_sends_lost_trainings_once(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict, redis_client: Any
) -> None:
    from datetime import timedelta

    from shared.db.models import utcnow
    from worker.training_reconcile import reconcile_trainings, waiting_trainings

    body = {"kind": "recognizer", "dataset_id": ready["id"], "options": RECOGNIZER_OPTIONS}
    ids = [
        client.post("/v1/trainings", headers=auth(key), json=body).json()["id"] for _ in range(4)
    ]
    redis_client.flushdb()  # Redis restarted empty: every message is gone
    past = utcnow() - timedelta(minutes=5)
    with transaction(ctx.sessions) as session:
        rows = [session.get(Training, i) for i in ids]
        for row in rows:
            row.created_at = past  # type: ignore[union-attr]
        lapsed, live = rows[1], rows[2]
        lapsed.status, lapsed.lease_expires_at = "running", past  # type: ignore[union-attr]
        live.status = "running"  # type: ignore[union-attr]
        live.lease_expires_at = utcnow() + timedelta(minutes=5)  # type: ignore[union-attr]
        rows[3].status = "succeeded"  # type: ignore[union-attr]
    # The database is shared with earlier tests: only this test's trainings are checked.
    reconcile_trainings(ctx, redis_client)
    assert waiting_trainings(redis_client) & set(ids) == {ids[0], ids[1]}
    before = redis_client.llen("train")
    reconcile_trainings(ctx, redis_client)  # their messages wait: none sent again
    assert waiting_trainings(redis_client) & set(ids) == {ids[0], ids[1]}
    assert redis_client.llen("train") == before


def test_two_jobs_with_two_models_on_one_worker_at_once(
    client: TestClient,
    ctx: WorkerContext,
    key: str,
    trained_recognizer: str,
) -> None:
    import threading

    ctx.settings = ctx.settings.model_copy(update={"loaded_models_max_mb": 1})
    jobs = []
    for model in ("quire-htr-crnn", trained_recognizer):
        page = text_image(["two models", "one worker"])
        answer = client.post(
            "/v1/jobs", headers=auth(key), files={"file": ("p.png", page)}, data={"model": model}
        )
        jobs.append(answer.json()["id"])
    threads = [threading.Thread(target=ocr_page, args=(ctx, job, 0)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    names = [
        client.get(f"/v1/jobs/{job}/result", headers=auth(key)).json()["model"] for job in jobs
    ]
    assert "quire-htr-crnn@sha256:" in names[0], names
    assert re.search(r"recognizer-v\d+@sha256:", names[1]), names
    chosen = ctx._chosen
    assert chosen is not None and chosen.loads == 2
    assert chosen.evictions == 1  # a 1 MB budget keeps one of the two loaded


def test_a_corrected_batch_becomes_a_dataset(
    client: TestClient, ctx: WorkerContext, key: str, tmp_path: Path
) -> None:
    import zipfile

    import numpy as np
    from PIL import Image

    from tests.fakes import striped_page

    def png(pixels: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "PNG")
        return out.getvalue()

    files = [("files", (f"p{i}.png", png(striped_page([20, 30, 24])))) for i in range(2)]
    batch = client.post("/v1/batches", headers=auth(key), files=files).json()
    items = client.get(f"/v1/batches/{batch['id']}/items", headers=auth(key)).json()["items"]
    for item in items:
        prepare_job(ctx, item["job_id"])
        ocr_page(ctx, item["job_id"], 0)
    first = items[0]["job_id"]
    fixed = client.patch(
        f"/v1/jobs/{first}/pages/0/lines/1",
        headers=auth(key),
        json={"text": "Dear Annie, thank you"},
    )
    assert fixed.status_code == 200, fixed.text
    answer = client.post(
        "/v1/datasets", headers=auth(key), json={"from_batch": batch["id"], "name": "checked"}
    )
    assert answer.status_code == 202, answer.text
    dataset = imported(client, ctx, key, answer.json())
    assert dataset["status"] == "ready", dataset
    assert dataset["from_batch"] == batch["id"] and dataset["name"] == "checked"
    assert dataset["stats"]["pages"] == 2 and dataset["stats"]["lines"] == 6
    with transaction(ctx.sessions) as session:
        from shared.db.models import Dataset

        source = session.get(Dataset, dataset["id"]).source_key  # type: ignore[union-attr]
    with zipfile.ZipFile(io.BytesIO(ctx.store.get_bytes(source))) as zf:
        texts = b"".join(zf.read(n) for n in zf.namelist() if n.endswith(".xml"))
    assert b"Dear Annie, thank you" in texts
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(key)).status_code == 204
    assert not ctx.store.exists(source)


def test_trainings_held_on_a_host_are_counted_for_scale_in_protection(
    client: TestClient, ctx: WorkerContext, key: str, ready: dict
) -> None:
    from training.service.leases import held_on_host

    body = {"kind": "recognizer", "dataset_id": ready["id"], "options": RECOGNIZER_OPTIONS}
    training = client.post("/v1/trainings", headers=auth(key), json=body).json()
    host = f"host-{training['id'][:8]}"
    assert held_on_host(ctx.sessions, host) == 0  # queued: nobody holds it
    with transaction(ctx.sessions) as session:
        row = session.get(Training, training["id"])
        row.status, row.lease_owner = "running", f"{host}-4242"  # type: ignore[union-attr]
    assert held_on_host(ctx.sessions, host) == 1
    assert held_on_host(ctx.sessions, f"{host}x") == 0
