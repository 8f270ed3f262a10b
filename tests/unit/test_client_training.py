"""The client's training commands against a fake server: ``datasets push`` (a folder zipped on
the fly, archives sent as they are, ``--wait``), ``train --remote``, ``trainings watch`` and its
exit codes, the listings, ``models``, and ``--model`` on submit."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from quire_client.main import run
from tests.unit.test_client_fakeserver import API_KEY, FakeQuire, parse_form, problem

STATS = {"pages": 2, "lines": 9, "characters": 140, "alphabet": "abc", "problems": {}}
PROBLEMS = [
    {"file": f"bad{n}.xml", "code": "malformed_xml", "message": "not XML", "line": None}
    for n in range(7)
]
BUILTIN = {"builtin": True, "version": 1, "metrics": {}, "default": False}
MODELS = [
    {"id": "quire-htr-crnn", "name": "quire-htr-crnn", "kind": "recognizer", **BUILTIN},
    {"id": "quire-lines-yolov8n", "name": "quire-lines-yolov8n", "kind": "detector", **BUILTIN},
    {
        "id": "m-1",
        "name": "my-hand",
        "version": 2,
        "kind": "recognizer",
        "builtin": False,
        "default": True,
        "metrics": {"val_cer": 0.0412, "val_wer": 0.12, "epoch": 3},
    },
]


def epoch(n: int, best: bool = False) -> dict[str, Any]:
    metrics = {"val_cer": round(0.5 / n, 4), "val_wer": round(0.9 / n, 4)}
    return {"epoch": n, "train_loss": 2.0 / n, "metrics": metrics, "seconds": 30.0, "best": best}


@dataclass
class FakeTrainer:
    """``/v1/datasets``, ``/v1/trainings`` and ``/v1/models``, in memory: a dataset is ready
    after ``import_polls`` polls, a training finishes one epoch a poll, then ``final``."""

    import_polls: int = 2
    dataset_status: str = "ready"
    final: str = "succeeded"
    max_epochs: int = 3
    faults: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    trainings: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return problem(401, "unauthorized", "missing or invalid API key")
        method, path = request.method, request.url.path
        if (method, path) in self.faults:
            return self.faults.pop((method, path))
        parts = path.strip("/").split("/")[1:]  # "v1" dropped
        handler = getattr(self, f"_{method.lower()}_{parts[0]}_{len(parts)}", None)
        if handler is None:
            return problem(404, "not_found", f"no route {method} {path}")
        return handler(request, *parts[1:])

    # --- datasets -------------------------------------------------------------------------

    def _post_datasets_1(self, request: httpx.Request) -> httpx.Response:
        dataset_id = f"d{len(self.datasets) + 1}"
        dataset: dict[str, Any] = {"id": dataset_id, "status": "importing", "problems": []}
        if request.headers["Content-Type"].startswith("application/json"):
            body = json.loads(request.content)
            dataset.update(name=body.get("name") or "batch", from_batch=body["from_batch"])
        else:
            fields, files = parse_form(request)
            filename, data = files["file"]
            dataset.update(name=fields.get("name") or filename, filename=filename, data=data)
        self.datasets[dataset_id] = dataset
        return httpx.Response(202, json=self._public(dataset))

    def _get_datasets_1(self, request: httpx.Request) -> httpx.Response:
        items = [self._public(d) for d in reversed(self.datasets.values())]
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    def _get_datasets_2(self, request: httpx.Request, dataset_id: str) -> httpx.Response:
        dataset = self.datasets[dataset_id]
        polls = self.polls[dataset_id] = self.polls.get(dataset_id, 0) + 1
        if polls >= self.import_polls and dataset["status"] == "importing":
            dataset.update(status=self.dataset_status, problems=PROBLEMS)
            if self.dataset_status == "ready":
                dataset["stats"] = {**STATS, "problems": {"malformed_xml": len(PROBLEMS)}}
            else:
                dataset["error"] = {"code": "dataset_empty", "message": "no page with text"}
        headers = {"Retry-After": "2"} if dataset["status"] == "importing" else {}
        return httpx.Response(200, json=self._public(dataset), headers=headers)

    def _delete_datasets_2(self, request: httpx.Request, dataset_id: str) -> httpx.Response:
        del self.datasets[dataset_id]
        return httpx.Response(204)

    @staticmethod
    def _public(dataset: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dataset.items() if k != "data"}

    # --- trainings ------------------------------------------------------------------------

    def _post_trainings_1(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        training_id = f"t{len(self.trainings) + 1}"
        self.trainings[training_id] = {
            "id": training_id,
            "kind": body["kind"],
            "name": body.get("name") or "gt-recognizer",
            "status": "queued",
            "dataset_id": body["dataset_id"],
            "max_epochs": body.get("max_epochs", self.max_epochs),
            "epoch": 0,
            "epochs": [],
            "eta_seconds": None,
            "stopped": None,
            "model_id": None,
            "error": None,
            "request": body,
        }
        return httpx.Response(202, json=self.trainings[training_id])

    def _get_trainings_1(self, request: httpx.Request) -> httpx.Response:
        items = list(reversed(self.trainings.values()))
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    def _get_trainings_2(self, request: httpx.Request, training_id: str) -> httpx.Response:
        training = self.trainings[training_id]
        if training["status"] in ("queued", "running"):
            self._advance(training)
        headers = {"Retry-After": "5"} if training["status"] in ("queued", "running") else {}
        return httpx.Response(200, json=training, headers=headers)

    def _advance(self, training: dict[str, Any]) -> None:
        done = training["epoch"] + 1
        training.update(status="running", epoch=done)
        training["epochs"].append(epoch(done, best=True))
        training["eta_seconds"] = 30.0 * (training["max_epochs"] - done)
        if done < training["max_epochs"]:
            return
        training.update(status=self.final, eta_seconds=None)
        if self.final == "succeeded":
            training.update(stopped="epochs", model_id="m-new")
        elif self.final == "did_not_converge":
            error = {"code": "did_not_converge", "message": "the best epoch reads nothing"}
            training.update(stopped="did_not_converge", error=error)
        elif self.final == "failed":
            training["error"] = {"code": "training_failed", "message": "out of memory"}

    def _post_trainings_3(self, request: httpx.Request, training_id: str, _: str) -> httpx.Response:
        training = self.trainings[training_id]
        if training["status"] not in ("queued", "running"):
            return problem(409, "conflict", f"training {training_id} already ended")
        if training["status"] == "queued":
            training["status"] = "canceled"
        return httpx.Response(200, json=training)

    # --- models ---------------------------------------------------------------------------

    def _get_models_1(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": MODELS})

    def _post_models_3(self, request: httpx.Request, model_id: str, _: str) -> httpx.Response:
        model = next(m for m in MODELS if m["id"] == model_id)
        return httpx.Response(200, json={**model, "default": True})

    def _delete_models_2(self, request: httpx.Request, model_id: str) -> httpx.Response:
        return httpx.Response(204)

    def bodies(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


@dataclass
class Ran:
    code: int
    out: str
    err: str
    sleeps: list[float]


def cli(fake: FakeTrainer | FakeQuire, *args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    sleeps: list[float] = []
    code = run(
        [*args, "--url", "http://quire.test", "--api-key", API_KEY],
        transport=fake.transport(),
        sleep=sleeps.append,
        stdout=out,
        stderr=err,
    )
    return Ran(code, out.getvalue(), err.getvalue(), sleeps)


@pytest.fixture
def ground_truth(tmp_path: Path) -> Path:
    folder = tmp_path / "gt"
    for name, data in {
        "box1/page1.png": b"\x89PNG\r\n\x1a\npng",
        "box1/page1.xml": b"<PcGts/>",
        "box1/page2.JPG": b"\xff\xd8\xffjpeg",
        "box1/page2.xml": b"<alto/>",
        "notes.txt": b"not ground truth",
        ".hidden/page3.xml": b"<PcGts/>",
        "box1/.DS_Store": b"junk",
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the client zips into, to see that nothing is left in it."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- datasets push --------------------------------------------------------------------------


def test_a_folder_is_zipped_with_its_images_and_xml_and_waited_for(
    ground_truth: Path, scratch: Path
) -> None:
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", str(ground_truth), "--name", "letters", "--wait")
    assert ran.code == 0, ran.err
    assert ran.out == "d1\n"
    sent = fake.datasets["d1"]
    assert sent["filename"] == "gt.zip" and sent["name"] == "letters"
    with zipfile.ZipFile(io.BytesIO(sent["data"])) as archive:
        assert archive.namelist() == [
            "box1/page1.png",
            "box1/page1.xml",
            "box1/page2.JPG",
            "box1/page2.xml",
        ]
        assert archive.read("box1/page2.xml") == b"<alto/>"
    assert list(scratch.iterdir()) == []  # the temporary zip is gone
    assert "packed 4 files" in ran.err
    assert "dataset d1 (letters): ready" in ran.err
    assert "pages: 2, lines: 9, characters: 140" in ran.err
    assert "problems: 7 (malformed_xml 7)" in ran.err
    assert "bad4.xml: malformed_xml: not XML" in ran.err and "bad5.xml" not in ran.err
    assert "... 2 more" in ran.err
    assert ran.sleeps == [1.0, 2.0]  # the POST had no Retry-After; the import's poll said 2
    post = fake.bodies("POST", "/v1/datasets")[0]
    assert len(post.headers["Idempotency-Key"]) == 36


def test_a_failed_import_exits_4_with_its_error(ground_truth: Path) -> None:
    ran = cli(FakeTrainer(dataset_status="failed"), "datasets", "push", str(ground_truth), "--wait")
    assert ran.code == 4
    assert "dataset d1 (gt.zip): failed" in ran.err
    assert "error: dataset_empty: no page with text" in ran.err


def test_without_wait_the_id_is_printed_at_once(ground_truth: Path) -> None:
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", str(ground_truth))
    assert (ran.code, ran.out, ran.sleeps) == (0, "d1\n", [])
    assert "dataset d1: importing" in ran.err
    assert fake.bodies("GET", "/v1/datasets/d1") == []


def test_an_archive_is_sent_as_it_is(tmp_path: Path) -> None:
    archive = tmp_path / "gt.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("page.xml")
        member.size = 8
        tar.addfile(member, io.BytesIO(b"<PcGts/>"))
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", str(archive))
    assert ran.code == 0, ran.err
    assert fake.datasets["d1"]["data"] == archive.read_bytes()
    body = fake.bodies("POST", "/v1/datasets")[0].content
    assert b"Content-Type: application/gzip" in body


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("gt.7z", b"7z\xbc\xaf\x27\x1c" + b"\0" * 30, "a dataset is a folder, a zip or a tar"),
        ("page.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "a dataset is a folder, a zip or a tar"),
        ("missing.zip", None, "no such file or folder"),
    ],
)
def test_what_is_not_a_dataset_is_refused_before_sending(
    tmp_path: Path, name: str, data: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", str(path))
    assert ran.code == 2 and message in ran.err
    assert fake.requests == []


def test_a_folder_without_ground_truth_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", str(tmp_path))
    assert ran.code == 2 and "no files to send" in ran.err
    assert fake.requests == []


def test_from_batch_asks_the_server_and_excludes_a_path(ground_truth: Path) -> None:
    fake = FakeTrainer()
    ran = cli(fake, "datasets", "push", "--from-batch", "b-7", "--name", "reviewed")
    assert ran.code == 0 and ran.out == "d1\n"
    assert json.loads(fake.bodies("POST", "/v1/datasets")[0].content) == {
        "from_batch": "b-7",
        "name": "reviewed",
    }
    for words in (
        ["datasets", "push"],
        ["datasets", "push", str(ground_truth), "--from-batch", "b"],
    ):
        ran = cli(fake, *words)
        assert ran.code == 2 and "not both" in ran.err


def test_datasets_list_show_and_delete(ground_truth: Path) -> None:
    fake = FakeTrainer(import_polls=1)
    cli(fake, "datasets", "push", str(ground_truth), "--wait")
    listed = cli(fake, "datasets", "list")
    assert listed.out.splitlines()[0].split()[:4] == ["id", "status", "pages", "lines"]
    assert listed.out.splitlines()[1].split()[:4] == ["d1", "ready", "2", "9"]
    shown = cli(fake, "datasets", "show", "d1")
    assert "bad6.xml" in shown.out and "more" not in shown.out  # show prints up to 50
    assert json.loads(cli(fake, "datasets", "show", "d1", "--json").out)["id"] == "d1"
    deleted = cli(fake, "datasets", "delete", "d1")
    assert deleted.code == 0 and "deleted dataset d1" in deleted.err
    fake.datasets["d2"] = {"id": "d2", "status": "ready"}
    fake.faults[("DELETE", "/v1/datasets/d2")] = problem(
        409, "conflict", "training t1 uses the dataset; cancel it or wait for its end"
    )
    refused = cli(fake, "datasets", "delete", "d2")
    assert refused.code == 2 and "error: conflict: training t1 uses the dataset" in refused.err


# --- train and trainings --------------------------------------------------------------------


def test_train_sends_only_what_was_given() -> None:
    fake = FakeTrainer()
    ran = cli(fake, "train", "recognizer", "--remote", "--dataset", "d1")
    assert (ran.code, ran.out) == (0, "t1\n")
    assert fake.trainings["t1"]["request"] == {"kind": "recognizer", "dataset_id": "d1"}
    assert fake.bodies("GET", "/v1/trainings/t1") == []  # no --watch: no polling


def test_train_sends_every_option_in_the_api_shape() -> None:
    fake = FakeTrainer()
    ran = cli(
        fake,
        "train",
        "detector",
        "--remote",
        "--dataset",
        "d1",
        "--name",
        "lines",
        "--base-model",
        "quire-lines-yolov8n",
        "--epochs",
        "2",
        "--max-minutes",
        "90",
        "--val-fraction",
        "0.2",
        "--seed",
        "7",
        "--val-dataset",
        "d2",
        "--option",
        "batch_size=4",
        "--option",
        "architecture=yolov8s.yaml",
        "--callback-url",
        "https://hooks.example.com/q",
    )
    assert ran.code == 0, ran.err
    assert fake.trainings["t1"]["request"] == {
        "kind": "detector",
        "dataset_id": "d1",
        "name": "lines",
        "base_model": "quire-lines-yolov8n",
        "max_epochs": 2,
        "max_minutes": 90.0,
        "callback_url": "https://hooks.example.com/q",
        "validation": {"fraction": 0.2, "seed": 7, "dataset_id": "d2"},
        "options": {"batch_size": 4, "architecture": "yolov8s.yaml"},
    }
    post = fake.bodies("POST", "/v1/trainings")[0]
    assert len(post.headers["Idempotency-Key"]) == 36


@pytest.mark.parametrize(
    "words",
    [
        ["train", "painter", "--dataset", "d1"],
        ["train", "recognizer"],  # --dataset is required
        ["train", "recognizer", "--dataset", "d1", "--option", "no-equals"],
        ["train", "recognizer", "--dataset", "d1", "--epochs", "many"],
    ],
)
def test_bad_train_arguments_exit_2_without_a_request(words: list[str]) -> None:
    fake = FakeTrainer()
    with pytest.raises(SystemExit) as exited:
        cli(fake, *words)
    assert exited.value.code == 2 and fake.requests == []


def test_watch_prints_each_epoch_and_ends_with_the_model() -> None:
    fake = FakeTrainer(max_epochs=3)
    ran = cli(fake, "train", "recognizer", "--remote", "--dataset", "d1", "--watch")
    assert ran.code == 0, ran.err
    assert ran.out == "t1\nm-new\n"  # the training's id, then the model's
    lines = ran.err.splitlines()
    assert lines[0] == "training t1 (gt-recognizer): queued"
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert epochs == [
        "epoch 1/3: loss 2.0000, val_cer 0.5000, val_wer 0.9000, 30s (best)",
        "epoch 2/3: loss 1.0000, val_cer 0.2500, val_wer 0.4500, 30s (best)",
        "epoch 3/3: loss 0.6667, val_cer 0.1667, val_wer 0.3000, 30s (best)",
    ]
    assert lines[-1] == (
        "training t1: succeeded (epochs) after 3 of 3 epochs; "
        "best epoch 3: val_cer 0.1667, val_wer 0.3000; model m-new"
    )
    assert ran.sleeps == [1.0, 5.0, 5.0]  # the POST said nothing; running ones ask for 5 s


@pytest.mark.parametrize(
    ("final", "tail"),
    [
        ("did_not_converge", "did_not_converge (did_not_converge) after 2 of 2 epochs"),
        ("failed", "; error training_failed: out of memory"),
        ("canceled", "training t1: canceled after 2 of 2 epochs"),
    ],
)
def test_watch_exits_4_unless_the_training_succeeded(final: str, tail: str) -> None:
    fake = FakeTrainer(final=final, max_epochs=2)
    cli(fake, "train", "recognizer", "--dataset", "d1")
    ran = cli(fake, "trainings", "watch", "t1")
    assert ran.code == 4
    assert ran.out == ""  # no model to name
    assert tail in ran.err.splitlines()[-1]


def test_watch_draws_an_epoch_bar_when_asked() -> None:
    fake = FakeTrainer(max_epochs=2)
    cli(fake, "train", "recognizer", "--dataset", "d1")
    ran = cli(fake, "trainings", "watch", "t1", "--progress")
    assert ran.code == 0
    assert "training t1: 2/2 epochs |" in ran.err
    assert "running; loss 2.0000; val_cer 0.5000, val_wer 0.9000; eta 30s" in ran.err


def test_watch_rides_out_a_failed_poll() -> None:
    fake = FakeTrainer(max_epochs=2)
    fake.faults[("GET", "/v1/trainings/t1")] = httpx.Response(502, text="bad gateway")
    ran = cli(fake, "train", "recognizer", "--dataset", "d1", "--watch")
    assert ran.code == 0, ran.err
    assert "polling failed (http_502: Bad Gateway); trying again" in ran.err
    assert ran.out == "t1\nm-new\n"


def test_watching_a_finished_training_shows_its_run_without_polling() -> None:
    fake = FakeTrainer(max_epochs=2)
    assert cli(fake, "train", "recognizer", "--dataset", "d1", "--watch").code == 0
    again = cli(fake, "trainings", "watch", "t1")
    assert again.code == 0 and again.sleeps == []
    assert [line[:9] for line in again.err.splitlines()] == ["epoch 1/2", "epoch 2/2", "training "]


def test_trainings_list_show_and_cancel() -> None:
    fake = FakeTrainer(max_epochs=2)
    cli(fake, "train", "recognizer", "--dataset", "d1", "--name", "hand")
    listed = cli(fake, "trainings", "list").out.splitlines()
    assert listed[0].split()[:4] == ["id", "status", "kind", "epochs"]
    assert listed[1].split()[:5] == ["t1", "queued", "recognizer", "0/2", "hand"]
    shown = cli(fake, "trainings", "show", "t1")
    assert shown.out.splitlines()[0] == "training t1 (hand, recognizer): running, epoch 1 of 2"
    assert "  epoch 1/2: loss 2.0000" in shown.out and "  eta: 30s" in shown.out
    running = cli(fake, "trainings", "cancel", "t1")
    assert running.code == 0 and "stops after its current epoch" in running.err
    cli(fake, "train", "recognizer", "--dataset", "d1")
    queued = cli(fake, "trainings", "cancel", "t2")
    assert queued.code == 0 and "training t2: canceled" in queued.err
    ended = cli(fake, "trainings", "cancel", "t2")
    assert ended.code == 2 and "already ended" in ended.err


# --- models ---------------------------------------------------------------------------------


def test_models_list_marks_builtin_and_default_and_shows_the_main_metric() -> None:
    ran = cli(FakeTrainer(), "models", "list")
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0].split() == ["id", "name", "ver", "kind", "marks", "metric"]
    assert lines[1].split() == [
        "quire-htr-crnn",
        "quire-htr-crnn",
        "1",
        "recognizer",
        "builtin",
        "-",
    ]
    assert lines[3].split() == ["m-1", "my-hand", "2", "recognizer", "default", "val_cer", "0.0412"]
    detectors = cli(FakeTrainer(), "models", "list", "--kind", "detector", "--json").out
    assert [json.loads(line)["id"] for line in detectors.splitlines()] == ["quire-lines-yolov8n"]


def test_models_promote_and_delete() -> None:
    fake = FakeTrainer()
    promoted = cli(fake, "models", "promote", "m-1")
    assert promoted.code == 0
    assert "m-1 (my-hand v2) is your default recognizer" in promoted.err
    assert [r.url.path for r in fake.bodies("POST", "/v1/models/m-1/promote")]
    assert cli(fake, "models", "delete", "m-1").code == 0
    fake.faults[("DELETE", "/v1/models/m-1")] = problem(
        409, "model_in_use", "job j-1 is still to run with it"
    )
    in_use = cli(fake, "models", "delete", "m-1")
    assert in_use.code == 2 and "error: model_in_use: job j-1" in in_use.err


# --- --model on submit ----------------------------------------------------------------------


def test_submit_sends_model_for_a_job_and_for_a_batch(tmp_path: Path) -> None:
    page = tmp_path / "scan.png"
    page.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    fake = FakeQuire()
    ran = cli(fake, "submit", str(page), "--model", "quire-lines-yolov8n+m-1")
    assert ran.code == 0, ran.err
    assert fake.job_fields["j1"]["model"] == "quire-lines-yolov8n+m-1"
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes(page.read_bytes())
    ran = cli(fake, "submit", str(folder), "--model", "m-1")
    assert ran.code == 0, ran.err
    assert fake.batch_requests[-1]["model"] == "m-1"
    plain = cli(fake, "submit", str(page))
    assert plain.code == 0 and "model" not in fake.job_fields[plain.out.strip()]
