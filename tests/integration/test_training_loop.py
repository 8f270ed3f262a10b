"""The whole learning loop through the ``quire`` command, as a user runs it, offline:
synthetic pages written as PAGE XML, a recognizer and a detector trained on them (with resume
and early stopping), and ``quire eval`` scoring the engine built from what was trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from training.run_log import MetricsLog
from worker.engines.yolo_build import build_yolo


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loop")
    out = root / "synth"
    empty = root / "no-cache"  # no fetched fonts: the system's faces, as in CI
    empty.mkdir()
    code = main(
        [
            "synth",
            "pages",
            "--out",
            str(out),
            "-n",
            "4",
            "--seed",
            "3",
            "--workers",
            "1",
            "--fonts",
            str(empty),
            "--texts",
            str(empty),
            "--quiet",
        ]
    )
    assert code == 0
    assert len(list(out.glob("*.xml"))) == 4
    return out


def test_recognizer_trains_resumes_and_stops_early(pages: Path, tmp_path: Path) -> None:
    run = tmp_path / "rec"
    words = [
        "train",
        "recognizer",
        "--gt",
        str(pages),
        "--out",
        str(run),
        "--val-fraction",
        "0.25",
        "--epoch-lines",
        "24",
        "--batch-size",
        "8",
        "--threads",
        "1",
    ]
    assert main([*words, "--epochs", "2"]) in (0, 1)
    assert [r.epoch for r in MetricsLog(run).read()] == [1, 2]
    assert (run / "recognizer.pt").exists() and (run / "last.pt").exists()
    main([*words, "--epochs", "3"])  # the same --out resumes: one more epoch, not three
    assert [r.epoch for r in MetricsLog(run).read()] == [1, 2, 3]
    main([*words, "--epochs", "40", "--patience", "1", "--lr", "1e-9"])
    records = MetricsLog(run).read()
    assert 3 < len(records) < 40  # a rate that learns nothing stops after `patience` epochs


def test_detector_trains_and_the_trained_engine_is_evaluated(
    pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = build_yolo("tiny", tmp_path / "base.pt", seed=0)
    detector_run, recognizer_run = tmp_path / "det", tmp_path / "rec"
    code = main(
        [
            "train",
            "detector",
            "--gt",
            str(pages),
            "--out",
            str(detector_run),
            "--val-fraction",
            "0.25",
            "--base",
            str(base),
            "--image-size",
            "128",
            "--batch-size",
            "2",
            "--epochs",
            "1",
        ]
    )
    assert code in (0, 1)  # 1: a one-epoch detector from random weights may find nothing
    assert (detector_run / "detector.pt").exists()
    assert [r.epoch for r in MetricsLog(detector_run).read()] == [1]
    main(
        [
            "train",
            "recognizer",
            "--gt",
            str(pages),
            "--out",
            str(recognizer_run),
            "--val-fraction",
            "0.25",
            "--epoch-lines",
            "16",
            "--epochs",
            "1",
            "--threads",
            "1",
        ]
    )
    monkeypatch.setenv("QUIRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUIRE_DEVICE", "cpu")
    monkeypatch.setenv("QUIRE_DETECTOR_MODEL", str(detector_run / "detector.pt"))
    monkeypatch.setenv("QUIRE_RECOGNIZER_MODEL", str(recognizer_run / "recognizer.pt"))
    out = tmp_path / "eval.json"
    assert (
        main(["eval", "--engine", "quire", "--gt", str(pages), "--limit", "2", "--json", str(out)])
        == 0
    )
    (report,) = json.loads(out.read_text())["reports"]
    assert report["engine"] == "quire"
    assert report["totals"]["pages"] == 2
    assert "detector@sha256:" in report["model"] and "+recognizer@sha256:" in report["model"]


def test_language_model_counts_training_pages_only(
    pages: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.recognizer.char_lm import LM_FILE, CharNgramLm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a letter to my dear sister\n\n  the weather is fine  \n", encoding="utf-8")
    args = ["train", "lm", "--gt", str(pages), "--text", str(corpus), "--val-fraction", "0.25"]
    assert main([*args, "--order", "4", "--out", str(tmp_path / "rec")]) == 0
    report = json.loads(capsys.readouterr().out)
    lm = CharNgramLm.load(tmp_path / "rec" / LM_FILE)
    assert lm.order == 4 and report["order"] == 4
    transcribed = sum(
        1 for xml in pages.glob("*.xml") for _ in xml.read_text().split("<TextEquiv")[1:]
    )
    assert 2 < report["lines"] < transcribed + 2  # one page of 4 held out; 2 corpus lines
    assert report["validation_perplexity"] > 1.0
    assert main(["train", "lm", "--out", str(tmp_path / "x")]) == 2  # nothing to count
