"""``quire train ... --remote`` and ``quire trainings watch``: start a training on the server,
then follow it epoch by epoch until it ends.

The request carries only what the user gave; the server's defaults (epochs, validation
split, options) stay in one place, the server.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO

from quire_client.api import QuireApi
from quire_client.progress import Progress
from quire_client.training_resources import Training
from quire_client.training_text import epoch_line, training_final_line, watch_postfix
from quire_client.waiting import exit_code_for, poll_until_terminal

# The bar counts epochs; its remaining time is the server's ETA (in the postfix), not tqdm's.
EPOCH_BAR = "{desc}: {n_fmt}/{total_fmt} epochs |{bar}| {elapsed}{postfix}"


def parse_option(text: str) -> tuple[str, Any]:
    """``--option key=value``: the value read as JSON when it is (numbers, true, lists), else
    kept as text (``crop=polygon``).

    Raises:
        ValueError: No ``=``, or no key before it.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


@dataclass(frozen=True)
class TrainingRequest:
    """What ``quire train`` was asked for; None leaves the server's default."""

    kind: str
    dataset_id: str
    name: str | None = None
    base_model: str | None = None
    max_epochs: int | None = None
    max_minutes: float | None = None
    val_fraction: float | None = None
    seed: int | None = None
    val_dataset: str | None = None
    callback_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The ``POST /v1/trainings`` body: only the fields given."""
        given = {
            "kind": self.kind,
            "dataset_id": self.dataset_id,
            "name": self.name,
            "base_model": self.base_model,
            "max_epochs": self.max_epochs,
            "max_minutes": self.max_minutes,
            "callback_url": self.callback_url,
        }
        body: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        split = {"fraction": self.val_fraction, "seed": self.seed, "dataset_id": self.val_dataset}
        validation = {name: value for name, value in split.items() if value is not None}
        if validation:
            body["validation"] = validation
        if self.options:
            body["options"] = dict(self.options)
        return body


def start_training(
    api: QuireApi, request: TrainingRequest, progress: Progress, stdout: TextIO
) -> Training:
    """Start the training and print its id on stdout."""
    training = api.create_training(request.payload(), idempotency_key=str(uuid.uuid4()))
    print(training.id, file=stdout, flush=True)
    progress.note(f"training {training.id} ({training.name}): {training.status}")
    return training


def watch_training(api: QuireApi, training: Training, progress: Progress, stdout: TextIO) -> int:
    """Follow the training: a bar of epochs done, a line per finished epoch, the final line on
    stderr and the model id (when there is one) on stdout.

    Returns:
        0 when it succeeded; 4 when it failed, was canceled or did not converge.
    """
    shown: set[int] = set()  # epochs already finished are printed too: the run so far
    bar = progress.count_bar(
        training.max_epochs or None, f"training {training.id}", "epoch", bar_format=EPOCH_BAR
    )

    def show(current: Training) -> None:
        for epoch in current.epochs:
            if epoch.epoch not in shown:
                shown.add(epoch.epoch)
                progress.note(epoch_line(epoch, current.max_epochs))
        bar.n = current.epoch
        bar.set_postfix_str(watch_postfix(current), refresh=False)
        bar.refresh()

    with bar:
        training = poll_until_terminal(
            api, training, lambda t: api.get_training(t.id), progress, show
        )
    progress.note(training_final_line(training))
    if training.model_id:
        print(training.model_id, file=stdout, flush=True)
    return exit_code_for(training.status)
