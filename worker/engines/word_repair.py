"""Repair of printed words against an English word list (PP-OCR's typical slips).

A CTC recognizer on print makes a few kinds of mistakes a word list can undo: a doubled letter
read once (``leter``, ``wil``), a digit for a letter or a letter for a digit (``s0``, ``lo32``),
``I`` for ``l`` (``UItra``) and a ligature read as two words (``fi rst``). A token is changed
only when it is not a known word and exactly one repair of one of these kinds makes it one, so
names, codes and words of other languages that no repair turns into an English word are left
alone. Short words in capitals are taken as codes (``SA-929``, not ``SSA-929``). Two words read
as one (``willplay``) are not split: on the benchmark pages, splitting broke more compounds the
list lacks (``overdub``, ``aftertouch``, ``fadeout``) than it mended (BENCHMARKS.md).

The list (``data/english-words.txt.gz``) is SCOWL's British and American lists as Debian ships
them (``wbritish``, ``wamerican``; see ``data/README.md`` for the notice and licence).
``python -m worker.engines.word_repair build`` remakes it from ``/usr/share/dict``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORD_LIST = Path(__file__).with_name("data") / "english-words.txt.gz"
SYSTEM_LISTS = (Path("/usr/share/dict/british-english"), Path("/usr/share/dict/american-english"))
MAX_CODE = 5  # a word in capitals this long or shorter is taken as a code or an acronym

_NUMBER = re.compile(r"^[0-9][0-9,.:/\-]*$")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)
_TO_DIGITS = str.maketrans({"o": "0", "O": "0", "l": "1", "I": "1"})
_SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True)
class WordList:
    """Known words, as written: ``Paris`` is known but ``paris`` is not; ``Letter`` and
    ``LETTER`` are known from ``letter``."""

    words: frozenset[str]
    digest: str

    @classmethod
    def load(cls, path: Path = WORD_LIST) -> WordList:
        """Read a gzip file of one word per line."""
        data = gzip.decompress(path.read_bytes())
        words = frozenset(w for w in data.decode("utf-8").splitlines() if w)
        return cls(words, hashlib.sha256(data).hexdigest()[:12])

    def knows(self, token: str) -> bool:
        """Whether a token needs no repair: a listed word (also capitalised or in capitals),
        a short word in capitals, a number, a hyphenated compound of known parts, or no
        letters at all."""
        if not any(c.isalpha() for c in token) or _NUMBER.match(token):
            return True
        if "-" in token.strip("-"):
            return all(self.knows(part) for part in token.split("-") if part)
        if token in self.words or _is_code(token):
            return True
        if token.isupper():
            return token.lower() in self.words or token.capitalize() in self.words
        return token[0].isupper() and token[1:].islower() and token.lower() in self.words


def _is_code(token: str) -> bool:
    return token.isalpha() and token.isupper() and len(token) <= MAX_CODE


@cache
def default_word_list() -> WordList:
    """The shipped list, loaded once per process."""
    return WordList.load()


def repair_line(text: str, words: WordList) -> str:
    """``text`` with each unknown token replaced by its one repair, where it has one."""
    tokens = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        lead, core, trail = _parts(tokens[i])
        if core and not words.knows(core):
            if i + 1 < len(tokens) and not trail:
                merged = _merged(core, tokens[i + 1], words)
                if merged is not None:
                    out.append(lead + merged)
                    i += 2
                    continue
            starts_sentence = not out or out[-1].endswith(_SENTENCE_END)
            repaired = repair_word(core, words, starts_sentence)
            if repaired is not None:
                tokens[i] = lead + repaired + trail
        out.append(tokens[i])
        i += 1
    return " ".join(out)


def repair_word(core: str, words: WordList, starts_sentence: bool = False) -> str | None:
    """The one repair that makes an unknown word known, or None (none, or more than one)."""
    has_digits = any(c.isdigit() for c in core)
    if has_digits and any(c.isalpha() for c in core):
        number = core.translate(_TO_DIGITS)
        if _NUMBER.match(number):
            return number
        lettered = _as_letters(core, starts_sentence)
        if words.knows(lettered):
            return lettered
    for candidates in (_swapped_i_l(core), _doubled(core)):
        known = {c for c in candidates if words.knows(c)}
        if len(known) == 1:
            return known.pop()
        if known:
            return None
    return None


def _parts(token: str) -> tuple[str, str, str]:
    match = _EDGES.match(token)
    assert match is not None  # the pattern matches every string
    lead, core, trail = match.groups()
    return lead, core, trail


def _merged(core: str, following: str, words: WordList) -> str | None:
    """``fi rst`` -> ``first``: two unknown pieces that are one known word together."""
    lead, second, trail = _parts(following)
    if lead or not second or words.knows(second):
        return None
    joined = core + second
    return joined + trail if joined.isalpha() and words.knows(joined) else None


def _as_letters(core: str, starts_sentence: bool) -> str:
    first_o = "O" if starts_sentence else "o"
    return "".join(
        (first_o if i == 0 else "o") if c == "0" else "l" if c == "1" else c
        for i, c in enumerate(core)
    )


def _swapped_i_l(core: str) -> Iterable[str]:
    for i, c in enumerate(core):
        if c in "Il":
            yield core[:i] + ("l" if c == "I" else "I") + core[i + 1 :]


def _doubled(core: str) -> Iterable[str]:
    for i, c in enumerate(core):
        if c.isalpha():
            yield core[:i] + c + core[i:]


def build_word_list(sources: Sequence[Path], out: Path) -> int:
    """Write the union of word lists (words with apostrophes left out) as sorted gzip text.

    Returns:
        The number of words written.
    """
    words: set[str] = set()
    for source in sources:
        for line in source.read_text(encoding="utf-8").splitlines():
            word = line.strip()
            if word and "'" not in word:
                words.add(word)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = ("\n".join(sorted(words)) + "\n").encode("utf-8")
    out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    return len(words)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Remake quire's English word list.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="from Debian's wbritish and wamerican")
    build.add_argument("--source", type=Path, action="append", default=None)
    build.add_argument("--out", type=Path, default=WORD_LIST)
    args = parser.parse_args(argv)
    sources = args.source or [p for p in SYSTEM_LISTS if p.is_file()]
    if not sources:
        parser.error("no word list: apt-get install wbritish wamerican, or pass --source")
    count = build_word_list(sources, args.out)
    print(f"{count} words -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
