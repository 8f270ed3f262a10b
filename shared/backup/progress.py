"""Progress lines for long copies: counts and bytes, at most one line every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

Report = Callable[[str], None]
MIB = 1024 * 1024


class Progress:
    """Counts ``done`` of ``total`` items and their bytes; reports through ``report``."""

    def __init__(self, report: Report, what: str, total: int, every_seconds: float = 2.0):
        self.report = report
        self.what = what
        self.total = total
        self.every = every_seconds
        self.done = 0
        self.bytes = 0
        self._last = time.monotonic()

    def advance(self, size: int) -> None:
        """One more item of ``size`` bytes."""
        self.done += 1
        self.bytes += size
        if time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            self.report(self.line())

    def finish(self) -> None:
        """The last line, always reported."""
        self.report(self.line())

    def line(self) -> str:
        return f"{self.what}: {self.done}/{self.total}, {self.bytes / MIB:.1f} MiB"
