"""The one text normalisation used at training, validation, evaluation and inference.

A recognizer trained on ``normalize_text(ground_truth)`` is scored against
``normalize_text(ground_truth)`` and its output passes through ``normalize_text`` too, so
figures agree across ``quire train``, ``quire eval`` and the worker.
"""

from __future__ import annotations

import re
import unicodedata

# Typographic variants that transcribers use interchangeably with their ASCII forms.
_EQUIVALENTS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00ad": None,  # soft hyphen: invisible in the image
        "\u200b": None,
        "\ufeff": None,
        "\u2026": "...",
    }
)
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC, typographic quotes and dashes folded to ASCII, runs of white space to one space.

    Args:
        text: A transcription or a recognizer's output.

    Returns:
        The normalised text, stripped at both ends.
    """
    folded = unicodedata.normalize("NFC", text).translate(_EQUIVALENTS)
    return _SPACES.sub(" ", folded).strip()
