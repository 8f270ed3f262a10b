"""What a ground-truth page holds once parsed, whatever format it came in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Point = tuple[float, float]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels, x1 > x0 and y1 > y0


@dataclass(frozen=True)
class GtLine:
    """One transcribed text line.

    ``bbox`` is always set (from the polygon, the baseline or the box the file gives);
    ``polygon`` and ``baseline`` only where the file has them.
    """

    id: str
    text: str
    bbox: Box
    polygon: tuple[Point, ...] | None = None
    baseline: tuple[Point, ...] | None = None
    line_type: str | None = None
    region_id: str | None = None


@dataclass(frozen=True)
class GtPage:
    """A page image and its lines, in the file's reading order."""

    source: Path  # the XML file
    image: Path  # the page image the XML names, resolved beside it
    width: int  # as the XML declares it
    height: int
    lines: tuple[GtLine, ...]
    format: str  # e.g. "page-2019-07-15", "page-2013-07-15", "alto-4"


@dataclass(frozen=True)
class GtProblem:
    """Why one file (or one line in it) was not imported: a stable code and a reason."""

    path: Path
    code: str
    message: str
    line_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}" + (f" line {self.line_id}" if self.line_id else "")
        return f"{where}: {self.code}: {self.message}"


@dataclass
class GtScan:
    """Every page that imported, and every problem met on the way (the rest still imports)."""

    pages: list[GtPage] = field(default_factory=list)
    problems: list[GtProblem] = field(default_factory=list)

    @property
    def line_count(self) -> int:
        return sum(len(page.lines) for page in self.pages)


class GroundTruthError(Exception):
    """A file that cannot be imported at all; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
