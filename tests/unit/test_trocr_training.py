"""The TrOCR fine-tuning trainer on a tiny model and PIL-drawn lines, on the CPU.

The model is ``trocr_build``'s ``tiny`` shape with the usual 0.02 weight init instead of the
builder's 1.0 (which keeps random outputs varied but makes training from it crawl), so a few
hundred steps can overfit four lines: a test that fails if labels are misaligned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from transformers import TrOCRProcessor, VisionEncoderDecoderModel

from shared.textnorm import normalize_text
from tests.offline_torch import offline_single_thread
from training.run_log import MetricsLog
from training.samples import LineSample
from training.trocr_training import (
    BEST_DIR,
    CARD_FILE,
    CHECKPOINT_FILE,
    IGNORED_LABEL,
    LAST_DIR,
    TrocrTrainConfig,
    collate_lines,
    decoder_start_token_id,
    train_trocr,
    unencodable_characters,
    validate,
)
from worker.engines import trocr_build

FONT = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 20)
TEXTS = [
    "cat", "dog 12", "HELLO", "quire", "a b c", "Line 7", "ink", "page",
    "ten", "x=3", "old map", "café €5", "“quoted”", "zz top", "mid", "end.",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _offline_single_thread() -> Iterator[None]:
    with offline_single_thread():
        yield


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trainable = dataclasses.replace(trocr_build.SIZES["tiny"], init_std=0.02)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(trocr_build.SIZES, "tiny", trainable)
        return trocr_build.build_trocr("tiny", tmp_path_factory.mktemp("base") / "tiny")


def draw_line(text: str) -> Image.Image:
    image = Image.new("RGB", (12 * len(text) + 16, 32), "white")
    ImageDraw.Draw(image).text((8, 4), text, font=FONT, fill="black")
    return image


@pytest.fixture(scope="module")
def lines() -> list[LineSample]:
    return [LineSample(draw_line(t), t, f"page{i // 4}") for i, t in enumerate(TEXTS)]


def options(base: Path, out_dir: Path, **changes: Any) -> TrocrTrainConfig:
    defaults = {"epochs": 2, "batch_size": 4, "max_target_length": 24, "progress": False}
    return TrocrTrainConfig(base, out_dir, **(defaults | changes))


def test_labels_end_with_eos_then_ignore_index(base: Path, lines: list[LineSample]) -> None:
    processor = TrOCRProcessor.from_pretrained(base)
    tokenizer = processor.tokenizer
    samples = [lines[0], lines[1], lines[12]]  # 3, 6 and 8 characters
    batch = collate_lines(processor, samples, max_length=24, start_token_id=tokenizer.bos_token_id)
    labels = batch["labels"]
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert labels.shape == (3, 9)  # the longest text and its end token; no start token
    for row, sample in zip(labels, samples, strict=True):
        text = normalize_text(sample.text)
        ids = row[row != IGNORED_LABEL].tolist()
        assert ids == [*tokenizer(text, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
        assert row[len(ids) :].eq(IGNORED_LABEL).all()  # padding only after the end token
    assert not labels.eq(tokenizer.bos_token_id).any()
    assert not labels.eq(tokenizer.pad_token_id).any()
    cut = collate_lines(processor, samples, max_length=4, start_token_id=tokenizer.bos_token_id)
    assert cut["labels"][:, -1].eq(tokenizer.eos_token_id).all()  # truncation keeps the end


def test_decoder_start_falls_back_to_the_tokenizer(base: Path) -> None:
    model = VisionEncoderDecoderModel.from_pretrained(base)
    tokenizer = TrOCRProcessor.from_pretrained(base).tokenizer
    assert decoder_start_token_id(model, tokenizer) == 0
    model.config.decoder_start_token_id = None
    assert decoder_start_token_id(model, tokenizer) == tokenizer.bos_token_id


def test_unencodable_characters_are_counted(base: Path) -> None:
    tokenizer = TrOCRProcessor.from_pretrained(base).tokenizer
    found = unencodable_characters(tokenizer, ["café €5", "né", "“ok”", "plain"])
    assert found == {"é": 2, "€": 1}  # curly quotes fold to ASCII before tokenizing


def test_overfitting_four_lines_drives_cer_down(
    base: Path, lines: list[LineSample], tmp_path: Path
) -> None:
    four = lines[:4]
    untrained = validate(
        VisionEncoderDecoderModel.from_pretrained(base), TrOCRProcessor.from_pretrained(base), four
    )
    config = options(base, tmp_path, epochs=40, learning_rate=1e-2, patience=0)
    result = train_trocr(config, four, four)
    cers = [r.metrics["val_cer"] for r in result.records]
    assert untrained.cer >= 0.9
    assert min(cers) <= 0.1
    assert result.records[-1].train_loss < result.records[0].train_loss / 5
    assert result.stopped == "epochs" and result.unknown_chars == {}
    assert [r.epoch for r in result.records if r.best][-1] == cers.index(min(cers)) + 1

    model = VisionEncoderDecoderModel.from_pretrained(result.best_dir)
    processor = TrOCRProcessor.from_pretrained(result.best_dir)
    assert validate(model, processor, four).cer == pytest.approx(min(cers))
    pixels = processor.image_processor(images=[four[0].image], return_tensors="pt").pixel_values
    ids = model.generate(pixels, max_new_tokens=8)
    assert processor.tokenizer.batch_decode(ids, skip_special_tokens=True) == ["cat"]
    card = json.loads((result.best_dir / CARD_FILE).read_text())
    assert card["family"] == "trocr" and card["base_model"] == str(base)
    assert card["metrics"]["val_cer"] == min(cers) and card["stopped"] == "epochs"
    assert card["options"]["learning_rate"] == 1e-2


def test_resume_matches_an_uninterrupted_run(
    base: Path, lines: list[LineSample], tmp_path: Path
) -> None:
    train, val = lines[:12], lines[12:]
    straight = train_trocr(options(base, tmp_path / "straight", epochs=3), train, val)
    first = train_trocr(options(base, tmp_path / "resumed"), train, val)
    assert [r.epoch for r in first.records] == [1, 2]
    resumed = train_trocr(options(base, tmp_path / "resumed", epochs=3), train, val)
    assert [r.epoch for r in resumed.records] == [1, 2, 3]
    assert MetricsLog(tmp_path / "resumed").read() == resumed.records
    losses = [r.train_loss for r in resumed.records]
    assert losses == pytest.approx([r.train_loss for r in straight.records], rel=1e-5)
    state = torch.load(
        tmp_path / "resumed" / LAST_DIR / CHECKPOINT_FILE, map_location="cpu", weights_only=False
    )
    assert state["epoch"] == 3 and state["step"] == 9 and state["optimizer"]["state"]
    assert resumed.unknown_chars == {"é": 1, "€": 1}
    assert resumed.best_dir == tmp_path / "resumed" / BEST_DIR
    with pytest.raises(FileExistsError):
        train_trocr(options(base, tmp_path / "resumed", resume=False), train, val)


def test_time_budget_cuts_the_first_epoch(
    base: Path, lines: list[LineSample], tmp_path: Path
) -> None:
    config = options(base, tmp_path, epochs=5, batch_size=2, max_minutes=1e-6, progress=True)
    result = train_trocr(config, lines[:12], lines[12:])
    assert result.stopped == "time_budget"
    assert [r.epoch for r in result.records] == [1]
    state = torch.load(
        tmp_path / LAST_DIR / CHECKPOINT_FILE, map_location="cpu", weights_only=False
    )
    assert state["step"] == 1  # one step of six, then validation and a checkpoint


def test_early_stopping_after_patience_epochs_without_a_better_cer(
    base: Path, lines: list[LineSample], tmp_path: Path
) -> None:
    frozen = options(base, tmp_path, epochs=5, learning_rate=0.0, patience=1)
    result = train_trocr(frozen, lines[:4], lines[12:])
    assert [r.best for r in result.records] == [True, False]  # the same CER twice, then stop
    assert result.stopped == "did_not_converge"  # random weights never beat an empty output
