"""Client-supplied file names are labels only: cleaned before they are kept.

Object keys never contain them (see ``shared.objectkeys``); this only keeps what is stored
and shown sane: no control characters (PostgreSQL refuses NUL in text; terminals and logs
misread the rest) and a bounded length.
"""

from __future__ import annotations

import unicodedata

MAX_FILENAME_CHARS = 1024


def clean_filename(name: str, limit: int = MAX_FILENAME_CHARS) -> str:
    """``name`` without control characters (NUL, C0, DEL, C1), cut to ``limit`` characters."""
    kept = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    return kept[:limit]
