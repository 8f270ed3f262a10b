"""A character n-gram language model (Witten-Bell interpolation) for CTC beam search.

Built from the training pages' transcriptions (never the validation pages') and plain-text
corpora, saved as gzipped JSON beside the recognizer (``charlm.json.gz``). Probabilities are
normalised over the characters the model saw plus one unknown; a line starts after
``order - 1`` start marks.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

LM_FILE = "charlm.json.gz"
START = "\x02"  # a start-of-line mark; removed from texts before counting
FORMAT = "quire-charlm/1"


class CharNgramLm:
    """Counts of the characters that follow every context of up to ``order - 1`` characters."""

    def __init__(self, order: int, follow: dict[str, dict[str, int]]) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if "" not in follow or not follow[""]:
            raise ValueError("a language model needs the counts of single characters")
        self.order = order
        self._follow = follow
        self._totals = {h: sum(c.values()) for h, c in follow.items()}
        self._vocab = len(follow[""]) + 1  # + one unknown character
        self._cache: dict[tuple[str, str], float] = {}

    @classmethod
    def build(cls, texts: Iterable[str], order: int = 6, min_context_count: int = 2) -> CharNgramLm:
        """Count ``texts`` (one line each); contexts seen fewer times than
        ``min_context_count`` are left out (their characters back off to shorter contexts)."""
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        pad = START * (order - 1)
        for text in texts:
            padded = pad + text
            for i in range(order - 1, len(padded)):
                for n in range(order):
                    counts[padded[i - n : i]][padded[i]] += 1
        follow = {
            h: dict(c) for h, c in counts.items() if h == "" or sum(c.values()) >= min_context_count
        }
        return cls(order, follow)

    def context(self, prefix: str) -> str:
        """The context the next character of a line starting with ``prefix`` is scored in."""
        padded = START * (self.order - 1) + prefix
        return padded[len(padded) - (self.order - 1) :] if self.order > 1 else ""

    def log_prob(self, context: str, char: str) -> float:
        """Natural log of P(``char`` | the last ``order - 1`` characters of ``context``)."""
        key = (context, char)
        cached = self._cache.get(key)
        if cached is None:
            cached = math.log(self._prob(context[len(context) - self.order + 1 :], char))
            self._cache[key] = cached
        return cached

    def _prob(self, context: str, char: str) -> float:
        unigram = self._follow[""]
        p = (unigram.get(char, 0) + 1) / (self._totals[""] + self._vocab)
        for n in range(1, len(context) + 1):
            h = context[len(context) - n :]
            seen = self._follow.get(h)
            if seen is None:
                break  # a longer context cannot be known when this one is not
            types, total = len(seen), self._totals[h]
            p = (seen.get(char, 0) + types * p) / (total + types)
        return p

    def save(self, path: Path) -> None:
        """Write the counts as gzipped JSON."""
        payload = {"format": FORMAT, "order": self.order, "follow": self._follow}
        with gzip.open(path, "wt", encoding="utf-8") as out:
            json.dump(payload, out, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path) -> CharNgramLm:
        """Read a file written by :meth:`save`."""
        with gzip.open(path, "rt", encoding="utf-8") as source:
            payload = json.load(source)
        if payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not a quire character language model")
        return cls(int(payload["order"]), payload["follow"])

    def perplexity(self, texts: Iterable[str]) -> float:
        """Per-character perplexity over ``texts`` (lower is better)."""
        total, chars = 0.0, 0
        for text in texts:
            for i, char in enumerate(text):
                total -= self.log_prob(self.context(text[:i]), char)
                chars += 1
        return math.exp(total / chars) if chars else math.inf
