"""The API's shapes for datasets, trainings and models (``/v1/datasets``, ``/v1/trainings``,
``/v1/models``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.schemas import ErrorInfo


class DatasetStats(BaseModel):
    pages: int
    lines: int
    characters: int
    alphabet: str
    problems: dict[str, int] = Field(description="problems by code")


class DatasetProblem(BaseModel):
    """A file (or a line of it) the import passed over, and why."""

    file: str
    code: str = Field(examples=["malformed_xml"])
    message: str
    line: str | None = None


class DatasetOut(BaseModel):
    """Ground truth for training: ``importing`` until the CPU worker has read it, then
    ``ready`` with its figures (or ``failed``: none of it usable)."""

    id: str
    name: str
    status: Literal["importing", "ready", "failed"]
    filename: str
    size_bytes: int
    from_batch: str | None = None
    stats: DatasetStats | None = None
    problems: list[DatasetProblem] = Field(default_factory=list, description="the first 200")
    error: ErrorInfo | None = None
    created_at: datetime
    ready_at: datetime | None = None


class DatasetList(BaseModel):
    items: list[DatasetOut]
    next_cursor: str | None = None


class CreateDatasetIn(BaseModel):
    """A dataset from a batch's pages with their current text (corrections applied), or from
    an archive sent with ``/v1/uploads``."""

    from_batch: str | None = None
    upload_id: str | None = None
    name: str = Field("", max_length=200)


class ValidationSplit(BaseModel):
    """Validation pages: a seeded fraction of the dataset's pages, or another dataset."""

    fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    dataset_id: str | None = None


class CreateTrainingIn(BaseModel):
    kind: Literal["detector", "recognizer"]
    dataset_id: str
    name: str | None = Field(
        None, max_length=200, description="the model's name in the registry (versions count up)"
    )
    base_model: str | None = Field(
        None, description="a model id or shipped model name of the same kind to start from"
    )
    validation: ValidationSplit = Field(default_factory=ValidationSplit)
    max_epochs: int = Field(30, ge=1, le=10_000)
    max_minutes: float | None = Field(None, gt=0, description="the best epoch so far is kept")
    callback_url: str | None = Field(None, max_length=2048)
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "recognizer: batch_size, learning_rate, warmup_steps, patience, epoch_lines, "
            "augment, crop (polygon|box); detector: batch_size, image_size, patience, "
            "architecture (a YOLOv8 yaml)"
        ),
    )


class EpochOut(BaseModel):
    epoch: int
    train_loss: float
    metrics: dict[str, float] = Field(description="val_cer, val_wer | map50, map50_95, line_recall")
    seconds: float
    best: bool
    samples_per_second: float = 0.0


class TrainingOut(BaseModel):
    id: str
    kind: str
    family: str
    name: str
    status: Literal["queued", "running", "succeeded", "failed", "canceled", "did_not_converge"]
    dataset_id: str | None
    validation: ValidationSplit
    base_model: str | None
    max_epochs: int
    max_minutes: float | None
    options: dict[str, Any]
    epoch: int = Field(description="the last epoch finished")
    epochs: list[EpochOut]
    eta_seconds: float | None = Field(
        None, description="from the mean epoch time; null before the first epoch"
    )
    stopped: str | None = Field(
        None, description="epochs | early_stopping | time_budget | did_not_converge | canceled"
    )
    attempts: int
    model_id: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TrainingList(BaseModel):
    items: list[TrainingOut]
    next_cursor: str | None = None


class ModelOut(BaseModel):
    id: str = Field(description="a shipped model's name, or a trained model's id")
    name: str
    version: int
    kind: Literal["detector", "recognizer"]
    family: str
    builtin: bool
    default: bool = Field(description="the tenant's default of its kind")
    sha256: str
    size_bytes: int
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    created_at: datetime | None = None


class ModelList(BaseModel):
    items: list[ModelOut]
