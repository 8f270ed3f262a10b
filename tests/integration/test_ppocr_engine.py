"""The embedded PP-OCR engine on real scans: exact lines, and a two-column page read in order."""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import FIXTURES
from worker.engines.base import OcrEngine
from worker.engines.ppocr import Detection, Runtime, build_ppocr_engine
from worker.engines.registry import build_engine
from worker.images import decode_page

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcrEngine]:
    yield build_engine(Settings(engine="ppocr", data_dir=tmp_path_factory.mktemp("ppocr")))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcrEngine]:
    yield build_engine(Settings(data_dir=tmp_path_factory.mktemp("mixed"), device="cpu"))


def test_the_default_mixed_engine_keeps_ppocr_on_print(mixed: OcrEngine) -> None:
    assert mixed.recognizer.name.startswith("ppocrv6-small-rec@")  # the default is `mixed`
    assert "|quire-htr-crnn@sha256:" in mixed.recognizer.name
    assert read(mixed, "ocrmypdf_crom.png") == "Covfefe is a perfectly cromulent word."


def read(engine: OcrEngine, name: str) -> str:
    pixels = decode_page((FIXTURES / name).read_bytes(), 100_000_000)
    return engine.run([pixels])[0].text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ocrmypdf_crom.png", "Covfefe is a perfectly cromulent word."),
        ("simplehtr_line.png", "or work on line level"),
    ],
)
def test_one_line_images_are_read_exactly(engine: OcrEngine, name: str, expected: str) -> None:
    assert read(engine, name) == expected


def test_two_column_page_reads_left_column_before_right(engine: OcrEngine) -> None:
    text = read(engine, "ocrmypdf_linn.png")
    position = {
        phrase: text.find(phrase)
        for phrase in (
            "The LinnSequencer",
            "Recording a Sequence",
            "sustain pedal",
            "tion. To overdub",
            "simply use LOCATE",
            "Creating a Song",
        )
    }
    assert all(p >= 0 for p in position.values()), position
    ordered = sorted(position, key=position.__getitem__)
    assert ordered == list(position)  # intro, left column to its end, then the right column
    truth = collections.Counter(
        re.findall(r"\w+", Path(FIXTURES / "ocrmypdf_linn.txt").read_text().lower())
    )
    got = collections.Counter(re.findall(r"\w+", text.lower()))
    assert sum((truth & got).values()) / sum(truth.values()) >= 0.9


@pytest.mark.parametrize(
    ("env", "unclip", "box", "dilated"),
    [
        ({}, 1.6, 0.4, True),
        ({"UNCLIP_RATIO": "2.0", "BOX_THRESHOLD": "0.5", "DILATION": "0"}, 2.0, 0.5, False),
    ],
)
def test_detector_post_processing_comes_from_settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    unclip: float,
    box: float,
    dilated: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"QUIRE_PPOCR_{name}", value)
    engine = build_engine(Settings(engine="ppocr", data_dir=tmp_path))
    post = engine.detector._model.postprocess_op  # type: ignore[attr-defined]
    assert (post.unclip_ratio, post.box_thresh) == (unclip, box)
    assert (post.dilation_kernel is not None) is dilated


@pytest.mark.parametrize(
    ("runtime", "threads", "spinning"),
    [
        (Runtime(threads=1, spinning=False, batch_size=6), 1, "0"),
        (Runtime(threads=2), 2, "1"),
    ],
)
def test_runtime_and_detector_resolution_reach_onnxocr(
    tmp_path: Path, runtime: Runtime, threads: int, spinning: str
) -> None:
    engine = build_ppocr_engine(tmp_path, Detection(limit_side_len=1280), runtime=runtime)
    detector = engine.detector._model  # type: ignore[attr-defined]
    recognizer = engine.recognizer._model  # type: ignore[attr-defined]
    assert detector.args.det_limit_side_len == 1280
    assert recognizer.rec_batch_num == runtime.batch_size
    for model in (detector, recognizer):
        options = model.session.get_session_options()
        assert options.intra_op_num_threads == threads
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning


@pytest.mark.parametrize(
    ("env", "threads", "repaired"),
    [({}, 1, True), ({"THREADS": "2", "WORD_LIST": "false"}, 2, False)],
)
def test_threads_and_word_list_come_from_settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    threads: int,
    repaired: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"QUIRE_PPOCR_{name}", value)
    engine = build_engine(Settings(engine="ppocr", data_dir=tmp_path))
    assert ("+words-" in engine.recognizer.name) is repaired
    for stage in (engine.detector, engine.recognizer):
        options = stage._model.session.get_session_options()  # type: ignore[attr-defined]
        assert options.intra_op_num_threads == threads
    crom = "Covfefe is a perfectly cromulent word."
    assert read(engine, "ocrmypdf_crom.png") == crom  # "Covfefe" is no word: left as read


@pytest.mark.parametrize(
    ("model", "name"),
    [("ppocrv6-small", "ppocrv6-small-rec@rapidocr-3.10.0"), ("ppocrv5-mobile", "ppocrv5-rec@")],
)
def test_either_recognizer_loads_by_setting_and_reads_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, name: str
) -> None:
    monkeypatch.setenv("QUIRE_PPOCR_RECOGNIZER", model)
    engine = build_engine(Settings(engine="ppocr", data_dir=tmp_path))
    assert engine.recognizer.name.startswith(name)
    assert read(engine, "ocrmypdf_crom.png") == "Covfefe is a perfectly cromulent word."
    recognizer = engine.recognizer._model  # type: ignore[attr-defined]
    assert recognizer.session.get_outputs()[0].shape[-1] == len(recognizer.postprocess_op.character)
