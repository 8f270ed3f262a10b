"""Plain text: the same document ``GET /v1/jobs/{id}/result?format=txt`` has always returned."""

from __future__ import annotations

from shared.results import render_text
from shared.schemas import ResultOut


def render(result: ResultOut, source_name: str = "") -> bytes:
    """The pages' text separated by form feeds, UTF-8 (``source_name`` is not used).

    Args:
        result: The job's result.
        source_name: The uploaded file's name; plain text has nowhere to put it.

    Returns:
        ``render_text(result)`` encoded as UTF-8.
    """
    # A lone surrogate cannot be encoded: it becomes '?' rather than failing the export.
    return render_text(result).encode("utf-8", errors="replace")
