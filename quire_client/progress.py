"""Progress bars on stderr, and the one-line notes that stay when bars are off.

Bars show on a terminal unless ``--quiet``, and anywhere with ``--progress``; a disabled
tqdm bar accepts the same calls and draws nothing, so callers never check.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm


def bars_enabled(quiet: bool, stream: TextIO, forced: bool = False) -> bool:
    """Whether to draw bars: not ``--quiet``, and ``--progress`` or the stream is a terminal."""
    if quiet:
        return False
    isatty = getattr(stream, "isatty", None)
    return forced or bool(isatty and isatty())


class Progress:
    """Makes the client's progress bars and writes its notes to stderr.

    Args:
        enabled: Draw bars (see ``bars_enabled``).
        stream: Where bars and notes go (default: stderr at the time of the call).
    """

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        """Where bars and notes are written."""
        return self._stream or sys.stderr

    def _bar(self, **options: Any) -> tqdm[Any]:
        return tqdm(file=self.stream, disable=not self.enabled, leave=True, **options)

    def bytes_bar(self, total: int | None, desc: str) -> tqdm[Any]:
        """A bar counting bytes (packing, uploading, downloading)."""
        return self._bar(
            total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, miniters=1
        )

    def count_bar(
        self, total: int | None, desc: str, unit: str, bar_format: str | None = None
    ) -> tqdm[Any]:
        """A bar counting things (pages processed, epochs), in tqdm's ``bar_format`` if given."""
        return self._bar(total=total, desc=desc, unit=unit, bar_format=bar_format)

    def note(self, message: str) -> None:
        """A line for the user that stays whether or not bars are drawn."""
        if self.enabled:
            tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)
