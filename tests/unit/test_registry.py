"""Engine choice by name fails at start with a reason, never per page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def _ship_tiny_models(root: Path) -> None:
    """A random CRNN and a tiny YOLO under the shipped names, as models/ holds them."""
    from training.recognizer.codec import CtcCodec
    from training.recognizer.crnn import Crnn, CrnnShape, save_crnn
    from worker.engines import builtin_models
    from worker.engines.yolo_build import build_yolo

    codec = CtcCodec("ab")
    shape = CrnnShape(height=32, channels=(8, 8, 8, 8), hidden=16, layers=1)
    save_crnn(root / builtin_models.RECOGNIZER / "recognizer.pt", Crnn(shape, 3), codec)
    (root / builtin_models.DETECTOR).mkdir(parents=True)
    build_yolo("tiny", root / builtin_models.DETECTOR / "detector.pt", seed=0)


def test_shipped_models_load_by_name_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.engines import builtin_models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QUIRE_BUILTIN_MODELS_DIR", str(tmp_path / "models"))
    _ship_tiny_models(tmp_path / "models")
    assert builtin_models.builtin_names(tmp_path / "models") == sorted(
        [builtin_models.DETECTOR, builtin_models.RECOGNIZER]
    )
    settings = Settings(engine="quire", data_dir=tmp_path, device="cpu")
    check_engine(settings)
    engine = build_engine(settings)
    assert engine.name.startswith(f"{builtin_models.DETECTOR}@sha256:")
    assert f"+{builtin_models.RECOGNIZER}@sha256:" in engine.name
    page = np.full((64, 64, 3), 255, np.uint8)
    assert len(engine.run([page])) == 1


def test_mixed_engine_pairs_ppocr_with_the_shipped_crnn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUIRE_BUILTIN_MODELS_DIR", str(tmp_path / "models"))
    _ship_tiny_models(tmp_path / "models")
    engine = build_engine(Settings(engine="mixed", data_dir=tmp_path, device="cpu"))
    assert engine.recognizer.name.startswith("ppocrv6-small-rec@rapidocr-")
    assert "|quire-htr-crnn@sha256:" in engine.recognizer.name


def test_engine_without_its_shipped_model_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QUIRE_BUILTIN_MODELS_DIR", str(tmp_path / "none"))
    with pytest.raises(ModelUnavailable):
        check_engine(Settings(engine="ppocr-crnn", data_dir=tmp_path))


@pytest.mark.parametrize(("weight", "fused"), [("0.5", True), ("0", False)])
def test_the_crnn_decodes_with_the_language_model_shipped_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weight: str, fused: bool
) -> None:
    import torch

    from training.recognizer.char_lm import LM_FILE, CharNgramLm
    from worker.engines import builtin_models

    monkeypatch.setenv("QUIRE_BUILTIN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("QUIRE_CRNN_LM_WEIGHT", weight)
    _ship_tiny_models(tmp_path / "models")
    CharNgramLm.build(["abba"] * 5, order=3).save(
        tmp_path / "models" / builtin_models.RECOGNIZER / LM_FILE
    )
    engine = build_engine(Settings(engine="quire", data_dir=tmp_path, device="cpu"))
    recognizer = engine.recognizer
    assert ("+charlm@sha256:" in recognizer.name) is fused
    # Frames reading "ab", then "a" (0.5) a little likelier than "b" (0.45), then "a".
    probs = torch.tensor(
        [[0.1, 0.9, 0], [0.1, 0, 0.9], [1, 0, 0], [0.05, 0.5, 0.45], [1, 0, 0], [0.1, 0.9, 0]]
    )
    monkeypatch.setattr(recognizer, "frame_log_probs", lambda arrays: [probs.clamp(1e-6).log()])
    crop = np.full((32, 64, 3), 255, np.uint8)
    assert recognizer.recognize([crop])[0].text == ("abba" if fused else "abaa")
