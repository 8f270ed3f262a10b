"""The character n-gram LM and the CTC prefix beam search fused with it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from training.recognizer.char_lm import CharNgramLm
from training.recognizer.ctc_beam import BeamOptions, prefix_beam_search

ALPHABET = " abdehlorw"
TEXTS = ["hello world", "hello there", "the word", "old road", "hold the door"] * 5


def _frames(spec: list[dict[str, float]]) -> np.ndarray:
    """T x classes log probabilities; each frame's unnamed mass goes to the blank."""
    out = np.full((len(spec), len(ALPHABET) + 1), 1e-6)
    for t, probs in enumerate(spec):
        for char, p in probs.items():
            out[t, ALPHABET.index(char) + 1] = p
        out[t, 0] = max(1e-6, 1.0 - sum(probs.values()))
    return np.log(out / out.sum(axis=1, keepdims=True))


def test_probabilities_of_a_context_sum_to_one() -> None:
    lm = CharNgramLm.build(TEXTS, order=4, min_context_count=1)
    seen = sorted(set("".join(TEXTS)))
    for context in (lm.context(""), lm.context("hel"), lm.context("zzz"), lm.context("the w")):
        known = sum(math.exp(lm.log_prob(context, c)) for c in seen)
        unknown = math.exp(lm.log_prob(context, "#"))  # every unseen character alike
        assert known + unknown == pytest.approx(1.0, abs=1e-9)


def test_seen_continuations_are_likelier_than_unseen() -> None:
    lm = CharNgramLm.build(TEXTS, order=5)
    assert lm.log_prob(lm.context("hell"), "o") > lm.log_prob(lm.context("hell"), "w")
    assert lm.log_prob(lm.context(""), "h") > lm.log_prob(lm.context(""), "w")
    assert lm.perplexity(["hello world"]) < lm.perplexity(["dlrow olleh"])


def test_save_and_load_keep_every_probability(tmp_path: Path) -> None:
    lm = CharNgramLm.build(TEXTS, order=3)
    lm.save(tmp_path / "lm.json.gz")
    again = CharNgramLm.load(tmp_path / "lm.json.gz")
    for context, char in [("he", "l"), ("", "w"), ("zz", "o"), ("o ", "#")]:
        assert again.log_prob(context, char) == lm.log_prob(context, char)


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    import gzip

    with gzip.open(tmp_path / "x.json.gz", "wt") as out:
        out.write('{"format": "other"}')
    with pytest.raises(ValueError, match="not a quire character language model"):
        CharNgramLm.load(tmp_path / "x.json.gz")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ([{"h": 0.9}, {"o": 0.9}, {"l": 0.9}, {"d": 0.9}], "hold"),
        ([{"l": 0.9}, {"l": 0.9}], "l"),  # a letter held over two frames is one letter
        ([{"l": 0.9}, {}, {"l": 0.9}], "ll"),  # a blank between: a double letter
        ([{}, {}, {}], ""),
    ],
)
def test_without_a_language_model_the_beam_finds_the_best_path(
    spec: list[dict[str, float]], expected: str
) -> None:
    options = BeamOptions(beam_width=4, length_bonus=0.0)
    assert prefix_beam_search(_frames(spec), ALPHABET, None, options) == expected


def test_the_beam_sums_paths_that_greedy_decoding_splits() -> None:
    # Per frame "b" 0.4 vs blank 0.6, so the best path is all blanks (0.36), yet "b" over
    # its three paths (b-, -b, bb: 0.64) outweighs it.
    spec = [{"b": 0.4}, {"b": 0.4}]
    options = BeamOptions(beam_width=4, length_bonus=0.0)
    assert prefix_beam_search(_frames(spec), ALPHABET, None, options) == "b"


def test_the_language_model_settles_an_ambiguous_letter() -> None:
    lm = CharNgramLm.build(TEXTS, order=5)
    # "hel?o" with the fourth letter read as "r" slightly likelier than "l".
    spec = [{"h": 0.9}, {"e": 0.9}, {"l": 0.9}, {}, {"r": 0.5, "l": 0.45}, {"o": 0.9}]
    no_lm = BeamOptions(beam_width=8, length_bonus=0.0)
    assert prefix_beam_search(_frames(spec), ALPHABET, None, no_lm) == "helro"
    fused = BeamOptions(beam_width=8, lm_weight=1.0, length_bonus=0.0)
    assert prefix_beam_search(_frames(spec), ALPHABET, lm, fused) == "hello"
