"""The models in models/ load by name on a fresh clone, offline, and stay within size limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.settings import Settings
from worker.engines import builtin_models
from worker.engines.model_source import resolve_model
from worker.engines.registry import build_engine

MODELS = Path(__file__).resolve().parents[2] / "models"
MB = 1024 * 1024


def test_every_shipped_file_is_small_enough() -> None:
    files = [p for p in MODELS.rglob("*") if p.is_file()]
    assert all(p.stat().st_size <= 15 * MB for p in files), files
    assert sum(p.stat().st_size for p in files) <= 40 * MB


def test_each_shipped_model_has_weights_and_a_card() -> None:
    names = builtin_models.builtin_names()
    assert names == sorted([builtin_models.DETECTOR, builtin_models.RECOGNIZER])
    for name in names:
        card = (MODELS / name / "MODEL_CARD.md").read_text(encoding="utf-8")
        for heading in ("## Data", "## Recipe", "## Figures", "## Limits"):
            assert heading in card, (name, heading)


def test_names_resolve_offline_with_a_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = resolve_model(builtin_models.RECOGNIZER, tmp_path)
    assert model.path == MODELS / builtin_models.RECOGNIZER / "recognizer.pt"
    assert model.identity.startswith(f"{builtin_models.RECOGNIZER}@sha256:")


def test_the_default_handwriting_engine_reads_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = build_engine(Settings(engine="quire", data_dir=tmp_path, device="cpu"))
    page = np.full((400, 600, 3), 250, np.uint8)
    page[180:200, 60:540] = 30  # one dark bar: whatever is read, the call must work
    (result,) = engine.run([page])
    assert (result.width, result.height) == (600, 400)
    assert all(0.0 <= line.confidence <= 1.0 for line in result.lines)
