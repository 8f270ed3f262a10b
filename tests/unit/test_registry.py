"""Engine choice by name fails at start with a reason, never per page."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings
from tests.fakes import fake_engine
from worker.engines.model_source import ModelUnavailable
from worker.engines.registry import ENGINES, build_engine, check_engine, register_engine


def test_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    settings = Settings(engine="tesseract", data_dir=tmp_path)
    for call in (check_engine, build_engine):
        with pytest.raises(ValueError, match=r"known: .*ppocr.*yolo-trocr"):
            call(settings)


@pytest.mark.parametrize(
    ("engine", "missing"),
    [("yolo-trocr", "QUIRE_RECOGNIZER_MODEL"), ("ppocr-trocr", "QUIRE_RECOGNIZER_MODEL")],
)
def test_engines_with_models_need_them_configured(
    tmp_path: Path, engine: str, missing: str
) -> None:
    with pytest.raises(ValueError, match=missing):
        check_engine(Settings(engine=engine, data_dir=tmp_path))


def test_missing_model_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(
        engine="ppocr-trocr", recognizer_model=str(tmp_path / "nope"), data_dir=tmp_path
    )
    with pytest.raises(ModelUnavailable):
        check_engine(settings)


def test_registered_engine_is_built_by_name(tmp_path: Path) -> None:
    register_engine("fake", lambda _s: fake_engine())
    try:
        engine = build_engine(Settings(engine="fake", data_dir=tmp_path))
        assert engine.name == "fake-det+fake-rec"
        check_engine(Settings(engine="fake", data_dir=tmp_path))
    finally:
        ENGINES.pop("fake")
