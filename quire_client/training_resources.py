"""Datasets, trainings and registry models as the client reads them (``/v1/datasets``,
``/v1/trainings``, ``/v1/models``).

Only the fields the client uses are typed; ``raw`` keeps the whole body for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quire_client.models import error_text

DATASET_TERMINAL = frozenset({"ready", "failed"})
TRAINING_TERMINAL = frozenset({"succeeded", "failed", "canceled", "did_not_converge"})
# The figure a model is judged by, per kind (the first one its metrics hold is shown).
MAIN_METRICS = {"recognizer": ("val_cer",), "detector": ("map50", "map50_95", "line_recall")}


@dataclass(frozen=True)
class DatasetStats:
    """What the import read: pages, lines, characters, alphabet, problems by code."""

    pages: int
    lines: int
    characters: int
    alphabet: str
    problems: dict[str, int]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DatasetStats:
        return cls(
            pages=int(body.get("pages") or 0),
            lines=int(body.get("lines") or 0),
            characters=int(body.get("characters") or 0),
            alphabet=str(body.get("alphabet") or ""),
            problems={str(k): int(v) for k, v in (body.get("problems") or {}).items()},
        )


@dataclass(frozen=True)
class DatasetProblem:
    """A file (or a line of it) the import passed over, and why."""

    file: str
    code: str
    message: str
    line: str | None = None


@dataclass(frozen=True)
class Dataset:
    """Ground truth to train on (``GET /v1/datasets/{id}``)."""

    id: str
    name: str
    status: str
    filename: str | None
    stats: DatasetStats | None
    problems: list[DatasetProblem]
    error: str | None
    raw: dict[str, Any] = field(repr=False)
    retry_after: float | None = None
    kind: str = "dataset"

    @classmethod
    def from_json(cls, body: dict[str, Any], retry_after: float | None = None) -> Dataset:
        """Read a Dataset body; ``retry_after`` comes from the response's header."""
        stats = body.get("stats")
        return cls(
            id=str(body["id"]),
            name=str(body.get("name") or ""),
            status=str(body["status"]),
            filename=body.get("filename"),
            stats=DatasetStats.from_json(stats) if isinstance(stats, dict) else None,
            problems=[
                DatasetProblem(str(p["file"]), str(p["code"]), str(p["message"]), p.get("line"))
                for p in body.get("problems") or []
            ],
            error=error_text(body.get("error")),
            raw=body,
            retry_after=retry_after,
        )

    @property
    def terminal(self) -> bool:
        """Whether the import ended (``ready`` or ``failed``)."""
        return self.status in DATASET_TERMINAL


@dataclass(frozen=True)
class Epoch:
    """One finished epoch: its training loss and validation figures."""

    epoch: int
    train_loss: float
    metrics: dict[str, float]
    seconds: float
    best: bool

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Epoch:
        return cls(
            epoch=int(body["epoch"]),
            train_loss=float(body.get("train_loss") or 0.0),
            metrics={str(k): float(v) for k, v in (body.get("metrics") or {}).items()},
            seconds=float(body.get("seconds") or 0.0),
            best=bool(body.get("best")),
        )


@dataclass(frozen=True)
class Training:
    """A detector or recognizer training (``GET /v1/trainings/{id}``)."""

    id: str
    kind: str
    name: str
    status: str
    dataset_id: str | None
    epoch: int
    max_epochs: int
    epochs: list[Epoch]
    eta_seconds: float | None
    stopped: str | None
    model_id: str | None
    error: str | None
    raw: dict[str, Any] = field(repr=False)
    retry_after: float | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any], retry_after: float | None = None) -> Training:
        """Read a Training body; ``retry_after`` comes from the response's header."""
        eta = body.get("eta_seconds")
        return cls(
            id=str(body["id"]),
            kind=str(body.get("kind") or ""),
            name=str(body.get("name") or ""),
            status=str(body["status"]),
            dataset_id=body.get("dataset_id"),
            epoch=int(body.get("epoch") or 0),
            max_epochs=int(body.get("max_epochs") or 0),
            epochs=[Epoch.from_json(e) for e in body.get("epochs") or []],
            eta_seconds=None if eta is None else float(eta),
            stopped=body.get("stopped"),
            model_id=body.get("model_id"),
            error=error_text(body.get("error")),
            raw=body,
            retry_after=retry_after,
        )

    @property
    def terminal(self) -> bool:
        """Whether the training ended, with or without a model."""
        return self.status in TRAINING_TERMINAL


@dataclass(frozen=True)
class Model:
    """A model the tenant can run: shipped (``builtin``) or trained (``GET /v1/models``)."""

    id: str
    name: str
    version: int
    kind: str
    builtin: bool
    default: bool
    metrics: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Model:
        return cls(
            id=str(body["id"]),
            name=str(body.get("name") or ""),
            version=int(body.get("version") or 0),
            kind=str(body.get("kind") or ""),
            builtin=bool(body.get("builtin")),
            default=bool(body.get("default")),
            metrics=dict(body.get("metrics") or {}),
            raw=body,
        )

    @property
    def main_metric(self) -> tuple[str, float] | None:
        """The figure the model is judged by, if its metrics have it (shipped ones do not)."""
        for name in MAIN_METRICS.get(self.kind, ()):
            value = self.metrics.get(name)
            if isinstance(value, int | float):
                return name, float(value)
        return None
