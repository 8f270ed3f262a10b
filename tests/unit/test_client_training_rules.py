"""The training commands' pure rules: ``--option`` values, the training request's shape, what
a dataset folder keeps, a model's main figure, epoch lines and exit codes."""

from __future__ import annotations

from typing import Any

import pytest

from quire_client.datasets import is_ground_truth
from quire_client.training_resources import Epoch, Model, Training
from quire_client.training_text import epoch_line, watch_postfix
from quire_client.trainings import TrainingRequest, parse_option
from quire_client.waiting import exit_code_for


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("batch_size=8", ("batch_size", 8)),
        ("learning_rate=1e-4", ("learning_rate", 0.0001)),
        ("augment=true", ("augment", True)),
        ("crop=polygon", ("crop", "polygon")),
        ("architecture=yolov8s.yaml", ("architecture", "yolov8s.yaml")),
        (" patience =3", ("patience", 3)),
        ("name=a=b", ("name", "a=b")),
        ("empty=", ("empty", "")),
        ("sizes=[640, 960]", ("sizes", [640, 960])),
    ],
)
def test_option_values_are_read_as_json_when_they_are(text: str, expected: tuple) -> None:
    assert parse_option(text) == expected


@pytest.mark.parametrize("text", ["batch_size", "=8", " =8", ""])
def test_an_option_needs_a_key_and_an_equals_sign(text: str) -> None:
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_option(text)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {}),
        ({"max_epochs": 5}, {"max_epochs": 5}),
        ({"seed": 0}, {"validation": {"seed": 0}}),  # zero is given, not left out
        ({"val_fraction": 0.25}, {"validation": {"fraction": 0.25}}),
        ({"val_dataset": "d2"}, {"validation": {"dataset_id": "d2"}}),
        ({"options": {"crop": "box"}}, {"options": {"crop": "box"}}),
        ({"name": None, "base_model": "quire-htr-crnn"}, {"base_model": "quire-htr-crnn"}),
    ],
)
def test_the_request_carries_only_what_was_given(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    request = TrainingRequest(kind="recognizer", dataset_id="d1", **given)
    assert request.payload() == {"kind": "recognizer", "dataset_id": "d1", **expected}


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("page.xml", True),
        ("page.XML", True),
        ("scan.png", True),
        ("scan.jpeg", True),
        ("scan.TIF", True),
        ("scan.jp2", True),
        ("scan.pdf", False),  # the import reads images only
        ("notes.txt", False),
        ("page.xml.bak", False),
        ("Makefile", False),
    ],
)
def test_a_dataset_folder_keeps_images_and_xml(name: str, kept: bool) -> None:
    assert is_ground_truth(name) is kept


def model(kind: str, metrics: dict[str, Any]) -> Model:
    return Model.from_json({"id": "m", "name": "m", "kind": kind, "metrics": metrics})


@pytest.mark.parametrize(
    ("kind", "metrics", "expected"),
    [
        ("recognizer", {"val_cer": 0.05, "val_wer": 0.2}, ("val_cer", 0.05)),
        ("recognizer", {}, None),  # a shipped model has no figures
        ("detector", {"map50_95": 0.6, "map50": 0.9}, ("map50", 0.9)),
        ("detector", {"line_recall": 0.8}, ("line_recall", 0.8)),
        ("detector", {"map50": "n/a"}, None),
    ],
)
def test_a_models_main_metric(
    kind: str, metrics: dict[str, Any], expected: tuple[str, float] | None
) -> None:
    assert model(kind, metrics).main_metric == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"epoch": 2, "train_loss": 0.5, "metrics": {"val_cer": 0.1}, "seconds": 75, "best": 1},
            "epoch 2/10: loss 0.5000, val_cer 0.1000, 1m15s (best)",
        ),
        (
            {"epoch": 1, "train_loss": 3, "metrics": {"map50": 0.42, "line_recall": 0.7}},
            "epoch 1/10: loss 3.0000, map50 0.4200, line_recall 0.7000, 0s",
        ),
        (
            {"epoch": 4, "train_loss": 0, "metrics": {"val_cer": 0.0, "lr": 2e-5}, "seconds": 3},
            "epoch 4/10: loss 0.0000, val_cer 0.0000, lr 2.00e-05, 3s",
        ),
    ],
)
def test_epoch_lines(body: dict[str, Any], expected: str) -> None:
    assert epoch_line(Epoch.from_json(body), 10) == expected


@pytest.mark.parametrize(
    ("status", "eta", "expected"),
    [
        ("queued", None, "queued; eta ?"),
        ("running", 90.0, "running; loss 1.0000; val_cer 0.3000; eta 1m30s"),
        ("succeeded", None, "succeeded; loss 1.0000; val_cer 0.3000"),
    ],
)
def test_the_watch_bar_postfix(status: str, eta: float | None, expected: str) -> None:
    epochs = (
        [] if status == "queued" else [{"epoch": 1, "train_loss": 1, "metrics": {"val_cer": 0.3}}]
    )
    training = Training.from_json(
        {"id": "t", "status": status, "epochs": epochs, "eta_seconds": eta, "max_epochs": 3}
    )
    assert watch_postfix(training) == expected


@pytest.mark.parametrize(
    ("status", "code"),
    [("succeeded", 0), ("failed", 4), ("canceled", 4), ("did_not_converge", 4)],
)
def test_a_training_exits_0_only_when_it_succeeded(status: str, code: int) -> None:
    assert exit_code_for(status) == code
