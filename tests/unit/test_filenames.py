from __future__ import annotations

import pytest

from shared.filenames import clean_filename


@pytest.mark.parametrize(
    ("name", "limit", "expected"),
    [
        ("scan.png", 100, "scan.png"),
        ("nul\x00byte.png", 100, "nulbyte.png"),
        ("bell\x07tab\tnl\ncr\r.png", 100, "belltabnlcr.png"),
        ("del\x7fc1\x85\x9f.png", 100, "delc1.png"),
        ("\x1b[31mred.png", 100, "[31mred.png"),
        ("../../x.png", 100, "../../x.png"),  # kept as a label; keys never use it
        ("\u202egnp.exe", 100, "\u202egnp.exe"),  # format characters are not control ones
        ("e\u0301 \U0001f4c4.png", 100, "e\u0301 \U0001f4c4.png"),
        ("a" * 50, 10, "a" * 10),
        ("", 10, ""),
    ],
)
def test_clean_filename(name: str, limit: int, expected: str) -> None:
    assert clean_filename(name, limit) == expected
