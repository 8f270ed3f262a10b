"""TrOCR recognizer, its batch planning and the offline random-weight model builder.

Everything runs on the CPU against a tiny random model built once per module; the real
``small`` and ``base`` shapes are checked on their configurations and on the meta device.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import TrOCRProcessor, VisionEncoderDecoderModel

from tests.offline_torch import offline_single_thread
from worker.engines.base import Recognition
from worker.engines.batching import bucket_by_width, restore_order
from worker.engines.trocr import TrOcrRecognizer, _until_first
from worker.engines.trocr_build import (
    CHAR_VOCAB_SIZE,
    CHARSET,
    SIZES,
    build_char_tokenizer,
    build_trocr,
    trocr_config,
)

WIDTHS = (200, 40, 120, 16, 300)  # not sorted, so width buckets reorder the crops


@pytest.fixture(scope="module", autouse=True)
def _offline_single_thread() -> Iterator[None]:
    with offline_single_thread():
        yield


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trocr("tiny", tmp_path_factory.mktemp("trocr") / "tiny")


@pytest.fixture(scope="module")
def greedy(tiny_dir: Path) -> TrOcrRecognizer:
    return TrOcrRecognizer(tiny_dir, device="cpu", max_new_tokens=8, batch_size=2)


def crops(widths: tuple[int, ...] = WIDTHS, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, width, 3), dtype=np.uint8) for width in widths]


def halves(config: Any) -> tuple[Any, Any]:
    """The encoder and decoder configurations (typed loosely, as transformers types them)."""
    return config.encoder, config.decoder


def record_generate(recognizer: TrOcrRecognizer, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Wrap the model's generate; the returned list fills with each call's kwargs and output."""
    calls: list[Any] = []
    generate: Callable[..., Any] = recognizer._model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = generate(*args, **kwargs)
        calls.append((kwargs, out))
        return out

    monkeypatch.setattr(recognizer._model, "generate", spy)
    return calls


# --- batching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "batch_size", "expected"),
    [
        ([], 3, []),
        ([5], 4, [[0]]),
        ([30, 10, 20], 2, [[1, 2], [0]]),
        ([10, 10, 10], 2, [[0, 1], [2]]),
        ([100, 5, 50, 6, 99, 51], 2, [[1, 3], [2, 5], [4, 0]]),
        ([100, 5, 50, 6, 99, 51], 1, [[1], [3], [2], [5], [4], [0]]),
        ([100, 5, 50], 10, [[1, 2, 0]]),
    ],
)
def test_bucket_by_width_table(
    widths: list[int], batch_size: int, expected: list[list[int]]
) -> None:
    assert bucket_by_width(widths, batch_size) == expected


@pytest.mark.parametrize("batch_size", [1, 3, 7, 64])
def test_bucket_by_width_covers_every_index_once_with_similar_widths(batch_size: int) -> None:
    widths = [random.Random(batch_size * 1000 + i).randint(1, 2000) for i in range(50)]
    batches = bucket_by_width(widths, batch_size)
    assert sorted(i for batch in batches for i in batch) == list(range(50))
    assert all(1 <= len(batch) <= batch_size for batch in batches)
    for narrower, wider in itertools.pairwise(batches):
        assert max(widths[i] for i in narrower) <= min(widths[i] for i in wider)


def test_bucket_by_width_refuses_empty_batches() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        bucket_by_width([1, 2], 0)


@pytest.mark.parametrize(
    ("batches", "results", "n", "expected"),
    [
        ([], [], 0, []),
        ([[1, 2], [0]], [["b", "c"], ["a"]], 3, ["a", "b", "c"]),
        ([[2], [], [0, 1]], [["c"], [], ["a", "b"]], 3, ["a", "b", "c"]),
    ],
)
def test_restore_order_table(
    batches: list[list[int]], results: list[list[str]], n: int, expected: list[str]
) -> None:
    assert restore_order(batches, results, n) == expected


def test_restore_order_inverts_bucketing() -> None:
    widths = [7, 3, 9, 1, 3, 8, 2]
    batches = bucket_by_width(widths, 3)
    results = [[f"w{widths[i]}#{i}" for i in batch] for batch in batches]
    assert restore_order(batches, results, len(widths)) == [
        f"w{w}#{i}" for i, w in enumerate(widths)
    ]


@pytest.mark.parametrize(
    ("batches", "results", "n"),
    [
        ([[0, 1]], [["a"]], 2),  # a batch short of results
        ([[0], [0]], [["a"], ["b"]], 2),  # an index twice, another missing
        ([[0, 2]], [["a", "b"]], 2),  # out of range
        ([[0]], [["a"]], 2),  # an index missing
        ([[0]], [], 1),  # no results for a batch
    ],
)
def test_restore_order_refuses_inconsistent_plans(
    batches: list[list[int]], results: list[list[str]], n: int
) -> None:
    with pytest.raises(ValueError):
        restore_order(batches, results, n)


# --- model building -------------------------------------------------------------------------


def test_tiny_model_reloads_offline(tiny_dir: Path) -> None:
    model = VisionEncoderDecoderModel.from_pretrained(tiny_dir, local_files_only=True)
    processor = TrOCRProcessor.from_pretrained(tiny_dir, local_files_only=True)
    tokenizer = processor.tokenizer
    encoder, decoder = halves(model.config)
    assert model.config.decoder_start_token_id == tokenizer.bos_token_id == 0
    assert model.config.pad_token_id == tokenizer.pad_token_id == 1
    assert model.config.eos_token_id == tokenizer.eos_token_id == 2
    assert model.config.vocab_size == decoder.vocab_size == len(tokenizer)
    assert model.generation_config.decoder_start_token_id == 0
    assert model.generation_config.eos_token_id == 2
    assert processor.image_processor.size == {"height": 32, "width": 32}
    assert encoder.image_size == 32


@pytest.mark.parametrize(
    "text", ["Hello, World! 42", CHARSET, "  two  spaces  ", "a~b`c\\d'e\"f", "x"]
)
def test_tokenizer_round_trips_printable_text(tiny_dir: Path, text: str) -> None:
    tokenizer = TrOCRProcessor.from_pretrained(tiny_dir).tokenizer
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert len(ids) == len(text) + 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_padding_to_a_real_vocabulary_size() -> None:
    tokenizer = build_char_tokenizer(CHAR_VOCAB_SIZE + 10)
    assert len(tokenizer) == CHAR_VOCAB_SIZE + 10
    assert tokenizer.decode([CHAR_VOCAB_SIZE + 9]) == "<unused9>"
    ids = tokenizer("Hello, World! 42").input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Hello, World! 42"
    assert tokenizer("é").input_ids[1] == tokenizer.unk_token_id
    with pytest.raises(ValueError, match="vocab_size"):
        build_char_tokenizer(CHAR_VOCAB_SIZE - 1)


@pytest.mark.parametrize(
    ("size", "encoder", "decoder"),
    [
        ("small", (384, 16, 384, 12, 6, 1536), (256, 6, 8, 1024, 64044)),
        ("base", (384, 16, 768, 12, 12, 3072), (1024, 12, 16, 4096, 50265)),
    ],
)
def test_real_sizes_have_the_published_shapes(
    size: str, encoder: tuple[int, ...], decoder: tuple[int, ...]
) -> None:
    config = trocr_config(size)
    enc, dec = halves(config)
    assert (
        enc.image_size,
        enc.patch_size,
        enc.hidden_size,
        enc.num_hidden_layers,
        enc.num_attention_heads,
        enc.intermediate_size,
    ) == encoder
    assert (
        dec.d_model,
        dec.decoder_layers,
        dec.decoder_attention_heads,
        dec.decoder_ffn_dim,
        dec.vocab_size,
    ) == decoder
    assert config.vocab_size == dec.vocab_size == SIZES[size].vocabulary
    assert config.decoder_start_token_id == 0 and config.eos_token_id == 2


@pytest.mark.parametrize(("size", "millions"), [("small", 61.6), ("base", 333.9)])
def test_real_sizes_have_the_published_parameter_counts(size: str, millions: float) -> None:
    with torch.device("meta"):
        model = VisionEncoderDecoderModel(config=trocr_config(size))
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e6, 1) == millions


def test_unknown_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="huge"):
        build_trocr("huge", tmp_path)


# --- recognizer -------------------------------------------------------------------------------


def test_no_crops_no_results(greedy: TrOcrRecognizer) -> None:
    assert greedy.recognize([]) == []


def test_one_recognition_per_crop(greedy: TrOcrRecognizer) -> None:
    results = greedy.recognize(crops())
    assert len(results) == len(WIDTHS)
    for result in results:
        assert isinstance(result, Recognition)
        assert isinstance(result.text, str)
        assert 0.0 <= result.confidence <= 1.0


def test_results_keep_the_input_order(greedy: TrOcrRecognizer) -> None:
    images = crops()
    together = greedy.recognize(images)
    alone = [greedy.recognize([image])[0] for image in images]
    assert len({r.text for r in alone}) > 1, "the tiny model must read different crops apart"
    assert [r.text for r in together] == [r.text for r in alone]
    for batched, single in zip(together, alone, strict=True):
        assert batched.confidence == pytest.approx(single.confidence, abs=1e-4)


def test_min_and_max_new_tokens_fix_the_generated_length(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recognizer = TrOcrRecognizer(tiny_dir, device="cpu", min_new_tokens=6, max_new_tokens=6)
    calls = record_generate(recognizer, monkeypatch)
    results = recognizer.recognize(crops())
    assert len(calls) == 1
    kwargs, out = calls[0]
    assert kwargs["min_new_tokens"] == kwargs["max_new_tokens"] == 6
    # One decoder start token, then exactly six generated ones, for every crop.
    assert tuple(out.sequences.shape) == (len(WIDTHS), 7)
    assert all(len(r.text) <= 6 for r in results)


def test_beam_decoding(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recognizer = TrOcrRecognizer(
        tiny_dir, device="cpu", decoding="beam", num_beams=2, max_new_tokens=8, batch_size=2
    )
    calls = record_generate(recognizer, monkeypatch)
    results = recognizer.recognize(crops())
    assert [kwargs["num_beams"] for kwargs, _ in calls] == [2, 2, 2]
    assert len(results) == len(WIDTHS)
    assert all(0.0 <= r.confidence <= 1.0 and isinstance(r.text, str) for r in results)


def test_greedy_decoding_uses_one_beam(greedy: TrOcrRecognizer) -> None:
    assert greedy.num_beams == 1


def test_unknown_decoding_is_refused(tiny_dir: Path) -> None:
    with pytest.raises(ValueError, match="decoding"):
        TrOcrRecognizer(tiny_dir, device="cpu", decoding="sampling")


def test_cpu_runs_in_float32(greedy: TrOcrRecognizer) -> None:
    assert greedy.device == torch.device("cpu")
    assert greedy.dtype == torch.float32
    assert {p.dtype for p in greedy._model.parameters()} == {torch.float32}
    assert {p.device.type for p in greedy._model.parameters()} == {"cpu"}


def test_names_and_parameter_count(tiny_dir: Path, greedy: TrOcrRecognizer) -> None:
    assert greedy.name == "trocr:tiny"
    assert TrOcrRecognizer(tiny_dir, device="cpu", name="hand@v3").name == "hand@v3"
    assert 10_000 < greedy.parameter_count() < 1_000_000


def test_crops_without_pixels_do_not_sink_the_batch(greedy: TrOcrRecognizer) -> None:
    good = crops((60, 90))
    gray = good[1][:, :, 0]
    rgba = np.dstack([good[0], np.full(good[0].shape[:2], 255, dtype=np.uint8)])
    empty = np.zeros((0, 40, 3), dtype=np.uint8)
    results = greedy.recognize([good[0], empty, gray, rgba])
    expected = greedy.recognize([good[0], np.dstack([gray] * 3)])
    assert results[1] == Recognition("", 0.0)
    assert [results[0].text, results[2].text, results[3].text] == [
        expected[0].text,
        expected[1].text,
        expected[0].text,
    ]


def test_confidence_counts_tokens_up_to_the_first_end() -> None:
    tokens = torch.tensor([[5, 2, 1, 1], [5, 6, 7, 8], [2, 1, 2, 1]])
    assert _until_first(tokens, 2).tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, False, False, False],
    ]
    assert _until_first(tokens, [7, 2])[1].tolist() == [True, True, True, False]
    assert _until_first(tokens, None).all()


def test_three_pixel_high_crops_are_read_as_channels_last(greedy: TrOcrRecognizer) -> None:
    # Columns of one color: resizing to the square input erases the height, 3 or 12 rows.
    row = np.random.default_rng(7).integers(0, 256, (1, 50, 3), dtype=np.uint8)
    short, tall = np.repeat(row, 3, axis=0), np.repeat(row, 12, axis=0)
    assert greedy.recognize([short])[0].text == greedy.recognize([tall])[0].text


def test_degenerate_but_nonempty_crops_are_read(greedy: TrOcrRecognizer) -> None:
    shapes = [(1, 1, 3), (1, 300, 3), (300, 1, 3), (3, 3, 3), (2, 5)]
    results = greedy.recognize([np.full(shape, 128, dtype=np.uint8) for shape in shapes])
    assert len(results) == len(shapes)
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
