"""Repair of printed words against a word list: each kind of slip, and what is left alone."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from worker.engines.word_repair import (
    WORD_LIST,
    WordList,
    build_word_list,
    default_word_list,
    main,
    repair_line,
    repair_word,
)

WORDS = WordList(
    frozenset(
        [
            "I",
            "a",
            "all",
            "first",
            "letter",
            "office",
            "will",
            "play",
            "please",
            "so",
            "or",
            "Or",
            "ultra",
            "fast",
            "Paris",
            "ai",
            "are",
            "ore",
            "ale",
            "ill",
            "received",
            "aid",
            "said",
            "SSA",
        ]
    ),
    "test",
)


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        ("his ofice", "his office"),  # a doubled letter read once
        ("by leter", "by letter"),
        ("Wil", "Will"),  # capitalised at a sentence start
        ("0r s0", "Or so"),  # digits for letters; capital O at the start of a line
        ("it is, 0r", "it is, or"),  # ... and a small o inside a sentence
        ("page lo32", "page 1032"),  # letters for digits
        ("over l10,000 notes", "over 110,000 notes"),
        ("UItra-fast", "Ultra-fast"),  # I for l, inside a hyphenated compound
        ("the fi rst one", "the first one"),  # a ligature read as two words
        ("(ofice)", "(office)"),  # punctuation around a word stays
        ("al.", "all."),
    ],
)
def test_each_kind_of_slip_is_repaired(read: str, meant: str) -> None:
    assert repair_line(read, WORDS) == meant


@pytest.mark.parametrize(
    "text",
    [
        "Paris paris",  # a lower-case proper name is not made up into a word
        "aI",  # mixed case is no capitalisation of "ai"
        "SMPTE LCD 12th 2961.11 MHz",  # codes, numbers and units without a repair
        "SA-929 ref SA",  # a short word in capitals is a code, though "SSA" is a word
        "willplay overdub",  # one unknown word is not split into two known ones
        "elle est venue hier",  # another language: no repair makes these English words
        "",
        "  double  spaces ",
    ],
)
def test_text_without_a_repair_is_left_exactly_as_read(text: str) -> None:
    assert repair_line(text, WORDS) == text


def test_a_word_with_two_repairs_is_left_alone() -> None:
    tie = WordList(frozenset({"heel", "hell"}), "t")
    assert repair_word("hel", tie) is None  # "heel" or "hell": no way to tell
    assert repair_word("hel", WordList(frozenset({"hell"}), "t")) == "hell"


@pytest.mark.parametrize("token", ["letter", "Letter", "LETTER", "1,032.50", "12:30", "--"])
def test_known_words_and_numbers_need_no_repair(token: str) -> None:
    assert WordList(frozenset({"letter"}), "t").knows(token)
    assert repair_line(f"a {token} b", WORDS) == f"a {token} b"


def test_shipped_list_loads_and_knows_common_words() -> None:
    words = default_word_list()
    assert len(words.words) > 50_000
    assert all(words.knows(w) for w in ("letter", "Letter", "LETTER", "received", "London"))
    assert not words.knows("leter")
    assert repair_line("Dear Sir, the leter wil be sent.", words) == (
        "Dear Sir, the letter will be sent."
    )
    assert len(words.digest) == 12


def test_build_writes_a_sorted_gzip_list_without_possessives(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("letter\nLondon\nletter's\n", encoding="utf-8")
    b.write_text("office\nletter\n\n", encoding="utf-8")
    out = tmp_path / "out" / "words.txt.gz"
    assert build_word_list([a, b], out) == 3
    assert gzip.decompress(out.read_bytes()).decode() == "London\nletter\noffice\n"
    assert WordList.load(out).words == {"London", "letter", "office"}
    assert main(["build", "--source", str(a), "--out", str(tmp_path / "c.gz")]) == 0


def test_the_shipped_list_is_small() -> None:
    assert WORD_LIST.stat().st_size < 1_000_000
