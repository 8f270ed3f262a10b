"""CTC prefix beam search with a character language model (shallow fusion).

Each prefix keeps two log probabilities, of the paths ending in a blank and of those ending in
its last character, so repeated letters ("ll") survive collapsing. When a prefix grows by a
character its score gains ``lm_weight * log P_lm(char | prefix) + length_bonus``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.recognizer.char_lm import CharNgramLm
from training.recognizer.codec import BLANK

NEG_INF = -math.inf


@dataclass(frozen=True)
class BeamOptions:
    """Beam width, the language model's weight and the per-character bonus that offsets it."""

    beam_width: int = 8
    lm_weight: float = 0.5
    length_bonus: float = 2.0
    prune_log_prob: float = math.log(1e-3)  # characters less likely in a frame are not tried


def _add(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def prefix_beam_search(
    log_probs: np.ndarray, alphabet: str, lm: CharNgramLm | None, options: BeamOptions
) -> str:
    """The best text for one line's frames.

    Args:
        log_probs: T x (1 + len(alphabet)) log probabilities, class 0 the blank.
        alphabet: Character ``alphabet[i]`` is class ``i + 1``.
        lm: The language model; None decodes on the recognizer's scores alone.
        options: Beam width and fusion weights.
    """
    beams: dict[str, tuple[float, float]] = {"": (0.0, NEG_INF)}
    for frame in log_probs:
        candidates = [int(c) for c in np.flatnonzero(frame > options.prune_log_prob) if c != BLANK]
        if candidates:
            beams = _step(beams, frame, candidates, alphabet, lm, options)
        else:  # only the blank is likely: every prefix stays, now ending in a blank
            blank = float(frame[BLANK])
            beams = {prefix: (_add(*scores) + blank, NEG_INF) for prefix, scores in beams.items()}
    return max(beams.items(), key=lambda kv: _add(*kv[1]))[0]


def _step(
    beams: dict[str, tuple[float, float]],
    frame: np.ndarray,
    candidates: list[int],
    alphabet: str,
    lm: CharNgramLm | None,
    options: BeamOptions,
) -> dict[str, tuple[float, float]]:
    grown: dict[str, list[float]] = {}

    def slot(prefix: str) -> list[float]:
        return grown.setdefault(prefix, [NEG_INF, NEG_INF])

    blank = float(frame[BLANK])
    for prefix, (p_blank, p_char) in beams.items():
        total = _add(p_blank, p_char)
        here = slot(prefix)
        here[0] = _add(here[0], total + blank)
        context = lm.context(prefix) if lm is not None else ""
        for c in candidates:
            char, p = alphabet[c - 1], float(frame[c])
            fused = p + options.length_bonus
            if lm is not None:
                fused += options.lm_weight * lm.log_prob(context, char)
            longer = slot(prefix + char)
            if prefix and prefix[-1] == char:
                longer[1] = _add(longer[1], p_blank + fused)  # a blank between: a double letter
                here[1] = _add(here[1], p_char + p)  # no blank: the same letter held
            else:
                longer[1] = _add(longer[1], total + fused)
    best = sorted(grown.items(), key=lambda kv: _add(*kv[1]), reverse=True)
    return {prefix: (s[0], s[1]) for prefix, s in best[: options.beam_width]}
