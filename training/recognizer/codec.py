"""The CTC codec: characters to class ids and back (class 0 is the CTC blank)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BLANK = 0


@dataclass(frozen=True)
class CtcCodec:
    """An alphabet; character ``alphabet[i]`` is class ``i + 1``."""

    alphabet: str

    @classmethod
    def from_texts(cls, texts: Iterable[str], base: str = "") -> CtcCodec:
        """Every character of ``base`` and of ``texts``, sorted, each once."""
        chars = set(base)
        for text in texts:
            chars.update(text)
        return cls("".join(sorted(chars)))

    @property
    def num_classes(self) -> int:
        return len(self.alphabet) + 1

    def encode(self, text: str) -> list[int]:
        """Class ids of ``text``; characters outside the alphabet are left out."""
        index = self._index
        return [index[c] for c in text if c in index]

    def missing(self, text: str) -> set[str]:
        """The characters of ``text`` this codec cannot write."""
        return {c for c in text if c not in self._index}

    def decode_greedy(self, ids: Sequence[int]) -> str:
        """Collapse repeats, drop blanks: the best path's text."""
        out, previous = [], BLANK
        for i in ids:
            if i != previous and i != BLANK:
                out.append(self.alphabet[i - 1])
            previous = i
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"alphabet": self.alphabet}, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str) -> CtcCodec:
        return cls(json.loads(data)["alphabet"])

    @property
    def _index(self) -> dict[str, int]:
        cached: dict[str, int] | None = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {c: i + 1 for i, c in enumerate(self.alphabet)}
            object.__setattr__(self, "_index_cache", cached)
        return cached
