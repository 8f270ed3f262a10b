"""quire's CRNN-CTC recognizer: codec, model file, training loop, resume, worker engine."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from training.recognizer.codec import CtcCodec
from training.recognizer.crnn import (
    Crnn,
    CrnnShape,
    batch_arrays,
    line_to_array,
    load_crnn,
    output_lengths,
    save_crnn,
)
from training.recognizer.crnn_training import (
    BEST_FILE,
    LAST_FILE,
    CrnnTrainConfig,
    ctc_targets,
    train_crnn,
    width_batches,
)
from training.run_log import MetricsLog
from training.samples import LineSample
from worker.engines.crnn import CrnnRecognizer, decode_with_confidence

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TINY = CrnnShape(height=32, channels=(8, 16, 24, 32), hidden=48, layers=1, dropout=0.0)


@pytest.mark.parametrize(
    ("ids", "text"),
    [
        ([], ""),
        ([0, 0, 0], ""),
        ([1, 1, 0, 1], "aa"),  # a blank separates a doubled letter
        ([1, 2, 2, 0, 3], "abc"),
        ([0, 3, 3, 3, 0], "c"),
    ],
)
def test_greedy_decoding_collapses_repeats_and_drops_blanks(ids: list[int], text: str) -> None:
    assert CtcCodec("abc").decode_greedy(ids) == text


def test_codec_encodes_known_characters_and_reports_the_rest() -> None:
    codec = CtcCodec.from_texts(["cab", "ba"], base=" ")
    assert codec.alphabet == " abc"
    assert codec.encode("a cz") == [2, 1, 4]
    assert codec.missing("a cz") == {"z"}
    assert CtcCodec.from_json(codec.to_json()) == codec


def test_line_to_array_makes_ink_bright_at_model_height() -> None:
    image = Image.new("RGB", (200, 50), (230, 220, 200))
    ImageDraw.Draw(image).rectangle((20, 15, 180, 35), fill=(20, 20, 60))
    array = line_to_array(image, CrnnShape(height=40))
    assert array.shape == (40, 160)
    assert array[20, 80] > 0.9 and array[2, 5] < 0.1


def test_batches_pad_to_a_multiple_of_four_and_keep_widths() -> None:
    images, widths = batch_arrays([np.ones((32, 10), np.float32), np.ones((32, 21), np.float32)])
    assert images.shape == (2, 1, 32, 24)
    assert widths.tolist() == [10, 21]
    assert images[0, 0, :, 10:].sum() == 0
    assert output_lengths(widths).tolist() == [2, 5]


def test_width_batches_cover_every_line_once_with_similar_widths() -> None:
    widths = [random.Random(1).randint(10, 1000) for _ in range(200)]
    batches = width_batches(widths, 16, random.Random(0))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(200))
    spread = np.mean([max(widths[i] for i in b) - min(widths[i] for i in b) for b in batches])
    assert spread < 200  # random batches would spread ~800 px


def test_ctc_targets_concatenate() -> None:
    flat, lengths = ctc_targets([[1, 2], [3]])
    assert flat.tolist() == [1, 2, 3] and lengths.tolist() == [2, 1]


def test_model_file_round_trips(tmp_path: Path) -> None:
    codec = CtcCodec("ab")
    model = Crnn(TINY, codec.num_classes).eval()
    save_crnn(tmp_path / "m.pt", model, codec, {"note": "x"})
    loaded, codec2, meta = load_crnn(tmp_path / "m.pt")
    x = torch.rand(1, 1, 32, 64)
    assert codec2 == codec and meta == {"note": "x"} and loaded.shape == TINY
    assert torch.allclose(loaded(x), model(x))


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a quire CRNN"):
        load_crnn(tmp_path / "x.pt")


def _lines(n: int, seed: int) -> list[LineSample]:
    rng = random.Random(seed)
    font = ImageFont.truetype(FONT, 22)
    out = []
    for i in range(n):
        text = "".join(rng.choice("ab") for _ in range(rng.randint(2, 4)))
        image = Image.new("L", (int(font.getlength(text)) + 16, 32), 255)
        ImageDraw.Draw(image).text((8, 3), text, font=font, fill=0)
        out.append(LineSample(image, text, f"page{i % 4}"))
    return out


def _config(out: Path, **overrides: object) -> CrnnTrainConfig:
    options: dict[str, object] = {
        "out_dir": out,
        "shape": TINY,
        "epochs": 8,
        "batch_size": 8,
        "learning_rate": 3e-3,
        "warmup_steps": 5,
        "augment": False,
        "alphabet": "ab",
        "patience": 0,
    }
    options.update(overrides)
    return CrnnTrainConfig(**options)  # type: ignore[arg-type]


def test_training_learns_a_toy_alphabet(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = train_crnn(_config(tmp_path, epochs=14), _lines(96, 0), _lines(16, 1))
    cers = [r.metrics["val_cer"] for r in result.records]
    assert len(cers) == 14 and result.stopped == "epochs"
    assert min(cers) < 0.35 < cers[0]  # untrained CTC emits nothing (CER 1.0)
    _, codec, meta = load_crnn(tmp_path / BEST_FILE)
    assert codec.alphabet == "ab" and meta["val_cer"] == pytest.approx(min(cers))


def test_resume_continues_from_the_last_epoch(tmp_path: Path) -> None:
    train, val = _lines(24, 0), _lines(8, 1)
    train_crnn(_config(tmp_path, epochs=2), train, val)
    assert (tmp_path / LAST_FILE).exists()
    result = train_crnn(_config(tmp_path, epochs=3), train, val)
    assert [r.epoch for r in result.records] == [1, 2, 3]
    assert [r.epoch for r in MetricsLog(tmp_path).read()] == [1, 2, 3]


def test_time_budget_stops_training(tmp_path: Path) -> None:
    result = train_crnn(_config(tmp_path, epochs=50, max_minutes=0.0), _lines(16, 0), _lines(4, 1))
    assert result.stopped in ("time_budget", "did_not_converge")
    assert len(result.records) <= 1


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path: Path) -> None:
    result = train_crnn(
        _config(tmp_path, epochs=30, patience=2, learning_rate=0.0), _lines(16, 0), _lines(4, 1)
    )
    assert result.stopped in ("early_stopping", "did_not_converge")
    assert len(result.records) == 3


def test_fine_tuning_keeps_shared_characters(tmp_path: Path) -> None:
    base_codec = CtcCodec("ab")
    base = Crnn(TINY, base_codec.num_classes)
    save_crnn(tmp_path / "base.pt", base, base_codec)
    config = _config(
        tmp_path / "run",
        epochs=1,
        alphabet="abc",
        base_model=tmp_path / "base.pt",
        learning_rate=0.0,
        warmup_steps=1,
    )
    train_crnn(config, _lines(8, 0), _lines(4, 1))
    tuned, codec, _ = load_crnn(tmp_path / "run" / BEST_FILE)
    assert codec.alphabet == "abc"
    assert torch.equal(tuned.head.weight[1], base.head.weight[1])  # "a" kept its row
    assert torch.equal(tuned.cnn[0].weight, base.cnn[0].weight)


def test_worker_recognizer_answers_in_order_and_skips_empty_crops(tmp_path: Path) -> None:
    codec = CtcCodec("ab")
    save_crnn(tmp_path / "recognizer.pt", Crnn(TINY, codec.num_classes), codec)
    recognizer = CrnnRecognizer(tmp_path / "recognizer.pt", batch_size=2)
    crops = [np.full((30, w, 3), 255, np.uint8) for w in (40, 200, 90)]
    crops.insert(1, np.zeros((0, 0, 3), np.uint8))
    out = recognizer.recognize(crops)
    assert len(out) == 4 and out[1].text == "" and out[1].confidence == 0.0
    assert recognizer.name == "crnn:recognizer"


def test_confidence_is_the_mean_of_emitted_characters_best_frames() -> None:
    probs = torch.tensor(
        [[0.1, 0.9, 0.0], [0.3, 0.7, 0.0], [0.8, 0.1, 0.1], [0.2, 0.0, 0.8]]
    )  # frames: a a blank b
    rec = decode_with_confidence(probs, CtcCodec("ab"))
    assert rec.text == "ab"
    assert rec.confidence == pytest.approx((0.9 + 0.8) / 2)
