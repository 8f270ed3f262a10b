"""The client's training commands against the real API in-process: a folder of ground truth
pushed and imported, a recognizer trained and watched to its model, the model listed,
promoted and used by ``submit --model``. The worker's steps (``import_dataset``,
``run_training``) run while the client waits: in its ``sleep``, between two polls."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from quire_client.main import run
from shared.settings import Settings
from tests.conftest import text_image
from tests.integration.conftest import auth
from tests.training_data import synth_pages
from training.service.dataset_import import import_dataset
from training.service.runner import run_training
from worker.context import WorkerContext

pytestmark = pytest.mark.integration
URL = "http://testserver"  # the TestClient's host
DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"training_threads": 1})


class InProcess(httpx.BaseTransport):
    """The client's httpx requests answered by the app through the TestClient (which speaks
    another httpx, so its own transport cannot be handed over)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(
            request.method,
            str(request.url),
            content=request.read(),
            headers=list(request.headers.multi_items()),
        )
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in DECODED]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)


@dataclass
class Ran:
    code: int
    out: str
    err: str


def client_cli(
    client: TestClient, key: str, *words: str, on_wait: Callable[[str], None] | None = None
) -> Ran:
    """Run a client command over the in-process API; ``on_wait`` gets the id the command
    printed first, once, when the command first waits."""
    out, err = io.StringIO(), io.StringIO()
    stepped: list[str] = []

    def sleep(_seconds: float) -> None:
        ident = out.getvalue().split("\n", 1)[0]
        if on_wait is not None and ident not in stepped:
            stepped.append(ident)
            on_wait(ident)

    code = run(
        [*words, "--url", URL, "--api-key", key],
        transport=InProcess(client),
        sleep=sleep,
        stdout=out,
        stderr=err,
    )
    return Ran(code, out.getvalue(), err.getvalue())


def test_push_train_watch_promote_and_submit_with_the_model(
    client: TestClient,
    ctx: WorkerContext,
    new_key: Callable[..., str],
    tmp_path: Path,
) -> None:
    key = new_key("client-trainer")
    pages = synth_pages(tmp_path / "gt", n=4, seed=5)
    (pages / "notes.txt").write_text("left out of the zip")

    pushed = client_cli(
        client,
        key,
        "datasets",
        "push",
        str(pages),
        "--name",
        "letters",
        "--wait",
        on_wait=lambda ident: import_dataset(ctx, ident),
    )
    assert pushed.code == 0, pushed.err
    dataset_id = pushed.out.strip()
    assert "packed 8 files" in pushed.err
    assert f"dataset {dataset_id} (letters): ready" in pushed.err
    assert "pages: 4, lines: " in pushed.err and "problems" not in pushed.err

    listed = client_cli(client, key, "datasets", "list")
    assert listed.out.splitlines()[1].split()[:3] == [dataset_id, "ready", "4"]

    trained = client_cli(
        client,
        key,
        "train",
        "recognizer",
        "--remote",
        "--dataset",
        dataset_id,
        "--name",
        "my-hand",
        "--base-model",
        "quire-htr-crnn",  # fine-tuned, it reads from the first epoch
        "--epochs",
        "1",
        "--val-fraction",
        "0.25",
        "--seed",
        "1",
        *("--option", "epoch_lines=16", "--option", "batch_size=8"),
        *("--option", "warmup_steps=5", "--option", "learning_rate=1e-4"),
        "--watch",
        on_wait=lambda ident: run_training(ctx, ident),
    )
    assert trained.code == 0, trained.err
    training_id, model_id = trained.out.split()
    assert "epoch 1/1: loss " in trained.err and "val_cer " in trained.err
    assert f"training {training_id}: succeeded (epochs) after 1 of 1 epochs" in trained.err
    shown = client_cli(client, key, "trainings", "show", training_id)
    assert f"model: {model_id}" in shown.out

    models = client_cli(client, key, "models", "list", "--kind", "recognizer")
    mine = next(line for line in models.out.splitlines() if line.startswith(model_id))
    assert mine.split()[1:4] == ["my-hand", "1", "recognizer"] and "val_cer" in mine
    assert client_cli(client, key, "models", "promote", model_id).code == 0
    models = client_cli(client, key, "models", "list")
    mine = next(line for line in models.out.splitlines() if line.startswith(model_id))
    assert mine.split()[4] == "default"

    page = tmp_path / "page.png"
    page.write_bytes(text_image(["a short line"]))
    submitted = client_cli(client, key, "submit", str(page), "--model", model_id)
    assert submitted.code == 0, submitted.err
    job = client.get(f"/v1/jobs/{submitted.out.strip()}", headers=auth(key)).json()
    assert job["models"]["recognizer"] == model_id

    assert client_cli(client, key, "datasets", "delete", dataset_id).code == 0
    gone = client_cli(client, key, "datasets", "show", dataset_id)
    assert gone.code == 2 and "not_found" in gone.err
